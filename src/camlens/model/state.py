"""Whether a model is still the model camlens's caches describe.

camlens caches per model: its inspection (`inspection`), its data format
(`channels`) and its compiled probes (`camlens.probe`). A model can change in
place between two calls: a layer's activation set to another function (a
softmax put back on the last layer), layers added to or taken from a
Sequential, a layer quantized. Each can make a cached answer wrong: a compiled
probe keeps the activation it was traced with, an inspection its logit site.
So the caches tag their entries with the model's *generation*, and `refresh`,
run at the start of every probe pass, compares the model with the fingerprint
recorded for it and starts a new generation when they differ: the caches then
build their entries again, and the old ones are dropped.

The fingerprint holds what those caches depend on and a user can change in
place: every layer, nested ones included, in order, with its activation
function, data format and quantization mode. Weights are not in it: nothing
cached depends on their values (compiled functions read the variables). A
capture's shadow of an attribute (`capture.unshadowed`) is seen through, so a
forward pass running in another thread does not look like a change.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import keras

from .capture import unshadowed
from .keras_internals import all_layers


@dataclass
class _State:
    fingerprint: tuple
    generation: int = 0


_states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def generation(model: keras.Model) -> int:
    """The model's generation as last checked (0 for a model first seen)."""
    with _lock:
        state = _states.get(model)
    if state is None:
        refresh(model)
        return 0
    return state.generation


def refresh(model: keras.Model) -> bool:
    """Check `model` against its fingerprint; start a new generation if it changed.

    Returns:
        Whether the model changed since it was last checked.
    """
    current = fingerprint(model)
    with _lock:
        state = _states.get(model)
        if state is None:
            _states[model] = _State(current)
            return False
        if state.fingerprint == current:
            return False
        state.fingerprint, state.generation = current, state.generation + 1
        return True


def fingerprint(model: keras.Model) -> tuple:
    """Every layer of `model` with what a change in place of it would change.

    Layers are held by weak references (the fingerprint must not keep the model's
    layers alive), which compare equal while their layer lives: a layer removed
    and freed never matches a new one that Python placed at its address.
    """
    return tuple(
        (
            weakref.ref(layer),
            unshadowed(layer, "activation"),
            getattr(layer, "data_format", None),
            getattr(layer, "quantization_mode", None),
        )
        for layer in all_layers(model)
    )
