"""A keras-hub detector's own decoding, compiled by the running backend.

keras-hub's detectors turn their raw predictions into detections with
`decode_predictions`: keras.ops, with a non-max suppression in a `while_loop`.
Run eagerly on JAX or TensorFlow it goes op by op and costs more than the
detector's forward pass (1.3 s of a 2.6 s call on JAX, profiled). Compiled once
per model (`jax.jit`, `tf.function`) it is one call; torch runs it eagerly, as
Keras runs its models.

A compiled decoding keeps the decoder it was traced with, so it is traced again
when the decoder is replaced or its settings change (a detector's
`prediction_decoder` set to another threshold, or its `confidence_threshold`
changed in place), as well as when the model changes (`camlens.model.state`).
"""

from __future__ import annotations

import importlib
import threading
import weakref
from collections.abc import Callable

import keras
import numpy as np

from ..model.state import generation

_cache: weakref.WeakKeyDictionary[keras.Model, tuple[tuple, Callable]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def decoded(model: keras.Model, outputs, images: np.ndarray) -> dict[str, np.ndarray]:
    """`model.decode_predictions(outputs, images)`, compiled, as numpy.

    The compiled function is kept for as long as the model lives and its
    decoding is the same (see the module's docstring), and holds the model weakly.
    """
    current = _decoding_state(model)
    with _cache_lock:
        cached = _cache.get(model)
        if cached is None or cached[0] != current:
            cached = _cache[model] = (current, _compiled(weakref.ref(model)))
    tensors = keras.tree.map_structure(keras.ops.convert_to_tensor, (outputs, images))
    return {key: keras.ops.convert_to_numpy(value) for key, value in cached[1](*tensors).items()}


def _decoding_state(model: keras.Model) -> tuple:
    """What the compiled decoding depends on besides its inputs."""
    decoder = getattr(model, "prediction_decoder", None)
    settings = None if decoder is None else repr(sorted(decoder.get_config().items()))
    box_format = getattr(model, "bounding_box_format", None)
    return generation(model), id(decoder), settings, box_format


def _compiled(model_ref: weakref.ref) -> Callable:
    def decode(outputs, images):
        return model_ref().decode_predictions(outputs, images)

    backend = importlib.import_module(f"{__package__}.{keras.backend.backend()}")
    return backend.compiled_function(decode)
