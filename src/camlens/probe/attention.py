"""Probes at a vision transformer's attention probabilities, one per block (LeGrad).

The probe of block l watches its attention's `Softmax` sublayer, with the
attention forced onto its explicit path and every later block skipped (see
`camlens.model.attention`): its gradients are those of block l's layer-wise
score with respect to block l's attention probabilities, (N, K, heads, T, S).

One probe pass per block. `Probe.site_gradients` differentiates one score at
many sites in one backward pass, but each block here has a score of its own
(its later blocks skipped): one pass for all would need the model's head applied
to every block's tokens within a single forward pass.
"""

from __future__ import annotations

import threading
import weakref

import keras

from ..model.attention import attention_blocks, explicit_attention, skipped_block
from ..model.channels import is_channels_first
from ..model.keras_internals import call_site
from ..model.slots import inspect_inputs
from ..model.state import generation
from . import probe_class
from .base import Probe

_cache: weakref.WeakKeyDictionary[keras.Model, tuple[object, list[Probe]]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def attention_probes(model: keras.Model, batch, method: str = "legrad") -> list[Probe]:
    """One probe per attention block of `model`, in the order they run for
    `batch`'s shapes; cached per model while it is not changed in place.

    Raises:
        ValueError: for a model without attention blocks, or a channels_first one.
    """
    current = generation(model)
    with _cache_lock:
        cached = _cache.get(model)
        if cached is not None and cached[0] == current:
            return cached[1]
    order = inspect_inputs(model, batch).layers_in_call_order()
    blocks = attention_blocks(model, order, method)
    if is_channels_first(model):
        raise ValueError(
            f"Method '{method}' reads attention maps of channels_last models only; model "
            f"'{model.name}' is channels_first. Received: method='{method}'"
        )
    probes = []
    for index, block in enumerate(blocks):
        probe = probe_class()(model, block.softmax)
        interceptors = {call_site(block.attention): explicit_attention}
        interceptors.update(
            {call_site(later.block): skipped_block(later.block) for later in blocks[index + 1 :]}
        )
        probe.intercept_also(interceptors)
        probes.append(probe)
    with _cache_lock:
        _cache[model] = (current, probes)
    return probes
