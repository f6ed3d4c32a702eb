"""Choosing the layer whose activations explain a prediction.

A layer can be given as an instance, a name, an index into `model.layers`, or
`None` for the automatic choice. The automatic choice searches the model
backwards, in the order its layers ran, for the last layer whose output is
spatial (a grid of the input's rank with more than one position: (N, h, w, C)
for images, (N, t, C) for 1-D signals, (N, d, h, w, C) for volumes; or a vision
transformer's tokens) and on which the explained score depends. It descends into nested models and
into layers that run their sub-layers as a chain (keras-hub's `ViTEncoder`,
each block feeding the next); a layer that combines its sub-layers' outputs
(a residual block) counts as one unit. A layer that returns several tensors
(DepthAnything's neck, its fused maps as a list) offers each spatial one, its
first tensor first: the model may read only some of them (the depth head reads
the last), and the choice takes the first the score depends on.

A model with a dense output (a segmentation or regression map, of the input's
rank) is never explained at that output's own head: the layers at the end of
the model whose maps have the output's channels (its classification
convolution, the resize of its logits, their activation, BASNet's sum of its
coarse and refined maps), and dropout between them and the features, are
passed over; the search starts at the decoder's features before them.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from typing import NamedTuple

import keras

from .inspection import Inspection
from .keras_internals import all_layers
from .token_grid import MAX_PREFIX_TOKENS, Layout, layout_for


def resolve_layer(
    model: keras.Model, layer, inspection: Inspection | None, output_index: int = 0
) -> keras.layers.Layer:
    """Return the layer instance of `model` that `layer` designates.

    Args:
        model: the Keras model being explained.
        layer: a `keras.layers.Layer` of `model` (nested models included), its
            name, or an index into `model.layers`.
        inspection: the model's inspection, to check the layer's output;
            `None` when it is not known yet (checked at the first call).
        output_index: which tensor of a layer returning several is explained.

    Returns:
        The layer, checked to have a grid or token output.
    """
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
    if inspection is not None:
        check_output(chosen, inspection, output_index)
    return chosen


def check_output(layer, inspection: Inspection, output_index: int = 0) -> None:
    """A ValueError unless the layer ran and its output `output_index` is a grid or tokens."""
    record = inspection.record(layer)
    if record is None:
        return  # the probe says that it did not run, with the model's name
    if not -len(record.shapes) <= output_index < len(record.shapes):
        raise ValueError(
            f"Layer '{layer.name}' returns {len(record.shapes)} tensor(s); "
            f"output_index={output_index} is out of range. Received: "
            f"output_index={output_index!r}"
        )
    shape = record.shapes[output_index]
    assert inspection.input_shape is not None, "a model whose layers ran has an input shape"
    if len(shape) not in (3, len(inspection.input_shape)):
        layout_for(shape, inspection.input_shape, layer.name)  # raises with the message
    positions = record.positions
    rows_not_tokens = positions is not None and shape[1] - MAX_PREFIX_TOKENS > positions
    if len(shape) == 3 and len(inspection.input_shape) == 4 and rows_not_tokens:
        layout_for(shape, inspection.input_shape, layer.name, positions=positions)


class Candidate(NamedTuple):
    """A tensor the automatic choice may explain: `layer`'s output `output_index`."""

    layer: keras.layers.Layer
    output_index: int
    layout: Layout


def candidate_layers(
    inspection: Inspection, token_grid=None, prefix_tokens=None, first=None
) -> Iterator[Candidate]:
    """The automatic choice's candidates, best first.

    Each is a layer's output tensor that is spatial: a grid of the input's rank
    with more than one position, or (for images) tokens that fit a patch grid.
    Whether the score depends on it is for the caller to check (it needs a
    gradient). The search is lazy: the caller stops at the first that suits.

    Args:
        first: `(layer, output_index)` to try before the others (what an
            earlier choice for this model settled on), if it is a candidate.
    """
    if first is not None:  # an earlier choice settled on it: tried without the walk
        record = inspection.record(first[0])
        if record is not None:
            layout = _spatial_layout(record, first[1], inspection, token_grid, prefix_tokens)
            if layout is not None:
                yield Candidate(first[0], first[1], layout)
    head: set | None = _dense_output_channels(inspection)
    for record in _search_order(inspection.root):
        if head and _is_head(record, head, inspection):
            continue  # the dense output's own logits, their resize or activation
        head = None
        for index in range(len(record.shapes)):
            if first is not None and first[0] is record.layer and first[1] == index:
                continue
            layout = _spatial_layout(record, index, inspection, token_grid, prefix_tokens)
            if layout is not None:
                yield Candidate(record.layer, index, layout)


class NoSpatialLayerError(ValueError):
    """The automatic choice found no layer with a spatial output: nothing to explain
    (ELI5's bridge reports it as ELI5 reports a model it does not support)."""


def no_candidate_error(
    model: keras.Model, token_grid=None, prefix_tokens=None
) -> NoSpatialLayerError:
    """The automatic choice found no layer; the message names the options that narrowed it."""
    given = ""
    if token_grid is not None or prefix_tokens is not None:
        given = f", token_grid={token_grid!r}, prefix_tokens={prefix_tokens!r}"
    return NoSpatialLayerError(
        "Could not find a layer with a spatial output (4-D (batch, height, width, "
        "channels) with more than one position, or a vision transformer's "
        "(batch, tokens, channels) fitting a patch grid; for a 1-D or 3-D input, "
        f"a grid of the input's rank) in model '{model.name}'. "
        f"Pass `layer=` explicitly. Received: layer=None{given}"
    )


def _search_order(record):
    for child in reversed(record.children):
        if isinstance(child.layer, keras.Model) or child.chain:
            yield from _search_order(child)
        yield child


_IDENTITIES = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianDropout,
    keras.layers.GaussianNoise,
    keras.layers.AlphaDropout,
)
"""Layers that pass their input through unchanged at inference."""


def _dense_output_channels(inspection) -> set:
    """The channel counts of the model's outputs of the input's rank (dense maps)."""
    rank = len(inspection.input_shape)
    axis = 1 if inspection.channels_first else -1
    return {shape[axis] for shape in inspection.output_shapes if len(shape) == rank}


def _is_head(record, channels: set, inspection) -> bool:
    """Whether a layer met before any feature layer belongs to a dense output's head:
    a map of the input's rank with the output's channels, or an inference identity."""
    if isinstance(record.layer, _IDENTITIES):
        return True
    shapes = record.shapes
    return (
        len(shapes) > 0
        and all(len(shape) == len(inspection.input_shape) for shape in shapes)
        and all(shape[-1] in channels for shape in shapes)
    )


def _spatial_layout(record, index, inspection, token_grid, prefix_tokens) -> Layout | None:
    if index >= len(record.shapes) or record.calls != 1:
        return None
    shape = record.shapes[index]
    if len(shape) == len(inspection.input_shape):
        return Layout() if math.prod(shape[1:-1]) > 1 else None
    if len(shape) != 3 or len(inspection.input_shape) != 4:
        return None
    try:
        return layout_for(
            shape,
            inspection.input_shape,
            record.layer.name,
            token_grid,
            prefix_tokens,
            record.positions,
        )
    except ValueError:
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
