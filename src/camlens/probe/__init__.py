"""Backend probes: the only code in camlens that imports tensorflow, jax or torch.

`probe_for(model, layer)` returns the probe of the running Keras backend, cached
per model and layer for as long as the model lives.
"""

from __future__ import annotations

import importlib
import threading
import weakref

import keras

from .base import LOGIT, OUTPUT, Probe, ProbeResult

__all__ = ["LOGIT", "OUTPUT", "Probe", "ProbeResult", "probe_for"]

_PROBES = {
    "tensorflow": ("tensorflow", "TensorFlowProbe"),
    "jax": ("jax", "JaxProbe"),
    "torch": ("torch", "TorchProbe"),
}
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def probe_for(model: keras.Model, layer: keras.layers.Layer) -> Probe:
    """The cached probe for `layer` of `model` on the current Keras backend."""
    with _cache_lock:
        per_model = _cache.setdefault(model, {})
        probe = per_model.get(id(layer))
        if probe is None or probe.layer is not layer:
            probe = per_model[id(layer)] = _probe_class()(model, layer)
        return probe


def _probe_class() -> type[Probe]:
    backend = keras.backend.backend()
    if backend not in _PROBES:
        raise RuntimeError(
            f"camlens supports the Keras backends {sorted(_PROBES)}. "
            f"Received: KERAS_BACKEND={backend!r}"
        )
    module_name, class_name = _PROBES[backend]
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)
