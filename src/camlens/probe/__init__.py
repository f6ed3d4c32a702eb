"""Backend probes: the only code in camlens that imports tensorflow, jax or torch.

`probe_for(model, layer)` returns the probe of the running Keras backend, cached
per model and layer for as long as the model lives and is not changed in place.
"""

from __future__ import annotations

import importlib
import threading
import weakref

import keras

from ..model.state import generation
from .base import LOGIT, OUTPUT, SCORES, Probe, ProbeResult, padded

__all__ = ["LOGIT", "OUTPUT", "SCORES", "Probe", "ProbeResult", "padded", "probe_for"]

_PROBES = {
    "tensorflow": ("tensorflow", "TensorFlowProbe"),
    "jax": ("jax", "JaxProbe"),
    "torch": ("torch", "TorchProbe"),
}
_cache: weakref.WeakKeyDictionary[keras.Model, tuple[object, dict[tuple[int, int], Probe]]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def probe_for(model: keras.Model, layer: keras.layers.Layer, output_index: int = 0) -> Probe:
    """The cached probe for `layer` of `model` (its tensor `output_index`) on this backend.

    Built again when the model has changed in place (`camlens.model.state`): a
    compiled function keeps the layers' activations it was traced with.
    """
    current = generation(model)
    with _cache_lock:
        cached = _cache.get(model)
        if cached is None or cached[0] != current:
            cached = _cache[model] = (current, {})
        key = (id(layer), output_index)
        probe = cached[1].get(key)
        if probe is None or probe.layer is not layer:
            probe = cached[1][key] = probe_class()(model, layer, output_index)
        return probe


def probe_class() -> type[Probe]:
    """The probe class of the running Keras backend (uncached probes: `probe.attention`)."""
    backend = keras.backend.backend()
    if backend not in _PROBES:
        raise RuntimeError(
            f"camlens supports the Keras backends {sorted(_PROBES)}. "
            f"Received: KERAS_BACKEND={backend!r}"
        )
    module_name, class_name = _PROBES[backend]
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)
