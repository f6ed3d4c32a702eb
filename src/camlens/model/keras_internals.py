"""Every Keras internal camlens relies on, each with the reason no public API does.

- `Layer._flatten_layers(include_self=False, recursive=...)`: the sub-layers of
  a layer. `Model.layers` lists a model's direct layers only; nothing public
  lists the layers a subclassed layer holds as attributes (keras-hub's
  `ViTEncoder` keeps its blocks in a Python list).
- The `softmax` and `sigmoid` functions of the backend module
  `keras.src.backend.<backend>.nn`: every Keras softmax and sigmoid (the
  `Softmax` layer, `activation="softmax"`, `keras.ops.softmax` in a subclassed
  `call` or a Functional graph) ends in one of them, so intercepting them finds
  the score before the activation however the model wrote it.
- `keras.src.backend.compute_output_spec`: runs a model symbolically, with the
  same code path as a real call (so the interceptors see every layer run),
  without computing anything.
- `Layer.rematerialized_call` and `Layer._remat_mode`: a layer built under
  `keras.RematScope` runs its call through a function of its own (see
  `without_remat`).
- `KerasTensor._keras_history`: the layer that produced a Functional model's
  output tensor (`producing_layer`); Keras keeps it for its own graph walk and
  exposes no public accessor (an image–text backbone's head is found this way).
- `Layer._inbound_nodes[-1].output_tensors`: the tensors a nested model's call
  made in its parent's graph (`call_outputs`); a Functional model's `output`
  is its own graph's, and a graph can be cut only at its own tensors
  (RetinaNet's pyramid levels, `camlens.api.detection_heads`).
- `keras.src.backend.tensorflow.nn._compute_moments` (in the TensorFlow probe's
  Hessian pass only): `tf.nn.moments` stops the gradient of the mean, which
  leaves second derivatives through LayerNormalization wrong; the pass shadows
  it with the same formula without the stop.

Keras runs a layer through `Layer.__call__`, which looks up `self.call`, or
`self.quantized_call` for a quantized layer (`call_site`): both are public
attributes, but which one runs is Keras's own rule.
"""

from __future__ import annotations

from typing import Any

import keras
from keras.src import backend as _backend

ACTIVATION_FUNCTIONS = ("softmax", "sigmoid")
"""The backend functions whose input is a model's pre-activation score."""


def all_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Every layer inside `model`, nested models and their layers included."""
    return model._flatten_layers(include_self=False, recursive=True)


def sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The layers `layer` holds directly (a model's layers, a block's attributes)."""
    return layer._flatten_layers(include_self=False, recursive=False)


def producing_layer(tensor) -> keras.layers.Layer | None:
    """The layer whose call produced a Functional model's symbolic `tensor`."""
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation


def call_outputs(layer: keras.layers.Layer) -> list:
    """The symbolic tensors `layer`'s last call made in a Functional graph."""
    nodes = getattr(layer, "_inbound_nodes", None)
    return list(nodes[-1].output_tensors) if nodes else []


def activation_sites() -> list[tuple[Any, str]]:
    """`(module, name)` of the backend's softmax and sigmoid, to intercept."""
    return [(_backend.nn, name) for name in ACTIVATION_FUNCTIONS]


def activation_module():
    """The backend's `nn` module, which holds its softmax and sigmoid."""
    return _backend.nn


def compute_output_spec(function, *specs):
    """`function(*specs)` run symbolically on `keras.KerasTensor`s."""
    return _backend.compute_output_spec(function, *specs)


def call_site(layer) -> tuple[Any, str]:
    """The `(layer, attribute)` that Keras calls to run `layer`'s computation.

    `quantized_call` for a quantized layer (`layer.quantize("int8")`), whose
    `call` Keras never runs; `call` for every other layer.
    """
    if getattr(layer, "quantization_mode", None) is not None:
        return layer, "quantized_call"
    return layer, "call"


def without_remat(layers) -> dict[tuple[Any, str], Any]:
    """Interceptors that run each rematerialised layer's call directly.

    A layer built under `keras.RematScope` runs its call through `remat`
    (`jax.checkpoint`, `tf.recompute_grad`, torch checkpointing), a function of
    its own: a value captured inside it escapes that function (JAX refuses it,
    TensorFlow cannot differentiate it). Rematerialisation only saves memory in
    training and never changes a value, so the capture runs these calls plainly.
    """
    return {
        (layer, "rematerialized_call"): _call_directly
        for layer in layers
        if getattr(layer, "_remat_mode", None) is not None
    }


def tensorflow_moments_site() -> tuple[Any, str]:
    """`(module, name)` of the TensorFlow backend's `_compute_moments`.

    Imported when asked: the module imports TensorFlow.
    """
    from keras.src.backend.tensorflow import nn

    return nn, "_compute_moments"


def _call_directly(original, layer_call, *args, **kwargs):
    return layer_call
