"""Choosing the layer whose activations explain a prediction.

A layer can be given as an instance, a name, an index into `model.layers`, or
`None` for the automatic choice: the last layer with a 4-D (batch, height, width,
channels) output, searched backwards and descending into nested models (the
transfer-learning `Sequential([base, pooling, head])` pattern). Functional and
Sequential models describe their layers' outputs in their graph; for subclassed
models the layers and their output shapes are recorded from a symbolic call.
"""

from __future__ import annotations

import difflib

import keras

from .capture import call_site, capture, on_output


def resolve_layer(model: keras.Model, layer, input_shape: tuple) -> keras.layers.Layer:
    """Return the layer instance of `model` that `layer` designates.

    Args:
        model: the Keras model being explained.
        layer: a `keras.layers.Layer` of `model` (nested models included), its
            name, an index into `model.layers`, or `None` for the automatic choice.
        input_shape: the shape of one batch of input, `(N, H, W, C)`.

    Returns:
        The layer, checked to have a 4-D output.
    """
    outputs = _LayerOutputs(model, input_shape)
    if layer is None:
        found = _last_spatial_layer(model, outputs)
        if found is None:
            raise ValueError(
                "Could not find a layer with a 4-D (batch, height, width, channels) "
                f"output in model '{model.name}'. Pass `layer=` explicitly. "
                f"Received: layer=None"
            )
        return found
    if isinstance(layer, keras.layers.Layer):
        chosen = _check_is_part_of(model, layer)
    elif isinstance(layer, bool) or not isinstance(layer, (int, str)):
        raise TypeError(
            "layer must be a keras.layers.Layer, a layer name (str), an index "
            f"(int) or None. Received: layer={layer!r} of type {type(layer).__name__}"
        )
    elif isinstance(layer, int):
        chosen = _layer_at(model, layer)
    else:
        chosen = _layer_named(model, layer)
    rank = outputs.rank(chosen)
    if rank is not None and rank != 4:
        raise ValueError(
            f"Layer '{chosen.name}' has an output of shape {outputs.shape(chosen)}; "
            "a class activation map needs a layer with a 4-D (batch, height, width, "
            "channels) output, such as a convolution or pooling layer. "
            f"Received: layer={layer!r}"
        )
    return chosen


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer inside `model`, nested models and their layers included."""
    return model._flatten_layers(include_self=False, recursive=True)


def graph_input_shape(model: keras.Model) -> tuple | None:
    """The input shape of a Functional or Sequential model, `None` if it has no graph."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    if len(inputs) != 1:
        raise ValueError(
            "camlens explains models with a single image input. "
            f"Received: a model with {len(inputs)} inputs"
        )
    return tuple(inputs[0].shape)


def final_activation(model: keras.Model, input_shape: tuple) -> tuple | None:
    """Where the model's last activation is applied, to read the score before it.

    Returns:
        `(object, attribute)` whose call receives the pre-activation scores as its
        first argument (a Softmax layer's `call`, or the `activation` of the last
        Dense, Conv or Activation layer), or `None` when the last layer is linear
        and its output already is the pre-activation score.
    """
    last = _output_layer(model, input_shape)
    if isinstance(last, keras.layers.Softmax):
        return last, "call"
    activation = getattr(last, "activation", None)
    if activation is None or getattr(activation, "__name__", "") == "linear":
        return None
    return last, "activation"


def _output_layer(model, input_shape):
    if not _has_graph(model):
        by_id = {id(layer): layer for layer in all_layers(model)}
        for layer_id in reversed(list(_LayerOutputs(model, input_shape).recorded())):
            if not isinstance(by_id[layer_id], keras.Model):
                return by_id[layer_id]
        return None
    if len(model.outputs) != 1:
        return None
    layer = model.outputs[0]._keras_history.operation
    if isinstance(layer, keras.Model):
        return _output_layer(layer, input_shape)
    return layer


def _has_graph(model) -> bool:
    return graph_input_shape(model) is not None


class _LayerOutputs:
    """Output shapes of a model's layers, from its graph or from a recorded call."""

    def __init__(self, model, input_shape):
        self._model = model
        self._input_shape = input_shape
        self._recorded = None  # layer id -> shape, in completion order

    def shape(self, layer) -> tuple | None:
        if _has_graph(self._model):
            try:
                output = layer.output
            except (AttributeError, ValueError):
                return None
            return tuple(output.shape) if hasattr(output, "shape") else None
        return self.recorded().get(id(layer))

    def rank(self, layer) -> int | None:
        shape = self.shape(layer)
        return None if shape is None else len(shape)

    def recorded(self) -> dict[int, tuple]:
        """Layer id -> output shape, for every layer called, in completion order."""
        if self._recorded is None:
            self._recorded = _record_output_shapes(self._model, self._input_shape)
        return self._recorded


def _record_output_shapes(model, input_shape) -> dict[int, tuple]:
    shapes: dict[int, tuple] = {}

    def recorder(layer):
        def hook(output):
            shapes.pop(id(layer), None)
            shapes[id(layer)] = tuple(output.shape) if hasattr(output, "shape") else ()
            return output

        return hook

    hooks = {call_site(layer): on_output(recorder(layer)) for layer in all_layers(model)}
    with capture(hooks):
        model.compute_output_spec(keras.KerasTensor((1,) + tuple(input_shape[1:])))
    return shapes


def _last_spatial_layer(model, outputs: _LayerOutputs):
    if not _has_graph(model):
        by_id = {id(layer): layer for layer in all_layers(model)}
        for layer_id, shape in reversed(list(outputs.recorded().items())):
            layer = by_id[layer_id]
            if len(shape) == 4 and not isinstance(layer, keras.Model):
                return layer
        return None
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model) and _has_graph(layer):
            inner = _last_spatial_layer(layer, _LayerOutputs(layer, outputs._input_shape))
            if inner is not None:
                return inner
        if outputs.rank(layer) == 4:
            return layer
    return None


def _check_is_part_of(model, layer):
    if any(candidate is layer for candidate in all_layers(model)):
        return layer
    raise ValueError(
        f"Layer '{layer.name}' is not a layer of model '{model.name}' (nor of a model "
        f"nested in it). Received: layer={layer!r}"
    )


def _layer_at(model, index: int):
    count = len(model.layers)
    if not -count <= index < count:
        raise ValueError(
            f"layer index {index} is out of range for model '{model.name}', which "
            f"has {count} layers (valid: {-count} to {count - 1}). Received: layer={index}"
        )
    return model.layers[index]


def _layer_named(model, name: str):
    candidates = [model.layers, all_layers(model)]  # top level first, as get_layer
    for layers in candidates:
        for layer in layers:
            if layer.name == name:
                return layer
    names = [layer.name for layer in all_layers(model)]
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(repr(n) for n in close)}?" if close else ""
    raise ValueError(
        f"No layer named '{name}' in model '{model.name}' or the models nested in "
        f"it.{hint} Received: layer={name!r}"
    )
