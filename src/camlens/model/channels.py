"""Models built `channels_first`: camlens works channels-last and moves the channel
axis at the model's edges.

Inside camlens every input and every grid a layer outputs is channels-last:
(N, H, W, C), (N, t, C), (N, D, H, W, C). A model whose layers say
`data_format="channels_first"` (set per layer, or by
`keras.config.set_image_data_format`) takes (N, C, H, W) inputs, and every grid
inside it, an activation's or an addition's too, has its channels on axis 1. Its
inputs are taken in that layout and moved to channels-last once
(`to_channels_last`); the probe moves them back where it calls the model
(`to_model_layout`), traces the model with the model's own shapes
(`model_shape`), and watches the explained layer's output with its channel axis
moved last, so that activations, gradients and every method see channels-last.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np

from .keras_internals import all_layers
from .state import generation

CHANNELS_FIRST = "channels_first"
CHANNELS_LAST = "channels_last"

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_channels_first(model: keras.Model) -> bool:
    """Whether `model`'s layers are channels-first; a ValueError for a model that mixes layouts."""
    current = generation(model)
    known = _cache.get(model)
    if known is None or known[0] != current:  # first seen, or changed in place
        known = _cache[model] = (current, _channels_first(model))
    return known[1]


def _channels_first(model: keras.Model) -> bool:
    formats: dict[str, list[str]] = {}
    for layer in all_layers(model):
        data_format = getattr(layer, "data_format", None)
        if data_format in (CHANNELS_FIRST, CHANNELS_LAST):
            formats.setdefault(data_format, []).append(layer.name)
    if len(formats) > 1:
        # The layers between them (activations, additions) do not say which
        # axis holds their channels: refused rather than guessed.
        first, last = formats[CHANNELS_FIRST], formats[CHANNELS_LAST]
        raise ValueError(
            f"model '{model.name}' mixes data formats: layers {_names(first)} are "
            f"channels_first and {_names(last)} channels_last, so camlens cannot "
            "tell which axis of the other layers' outputs holds the channels. Build "
            f"it with one data format. Received: model '{model.name}'"
        )
    return CHANNELS_FIRST in formats


def check_region_layout(model: keras.Model) -> None:
    """A ValueError for `Region` targets on a channels_first model: a Region reads a
    (batch, height, width, classes) output, and such a model's has its classes first."""
    if is_channels_first(model):
        raise ValueError(
            "Region targets read a (batch, height, width, classes) output; model "
            f"'{model.name}' is channels_first, so its output grid has its "
            "classes first. Pass a callable target that sums the region of its "
            "output. Received: a Region in targets"
        )


def to_channels_last(inputs: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) -> (N, *spatial, C)."""
    return np.ascontiguousarray(np.moveaxis(inputs, 1, -1))


def to_model_layout(tensor):
    """(N, *spatial, C) -> (N, C, *spatial), a backend tensor."""
    return keras.ops.moveaxis(tensor, -1, 1)


def model_shape(shape: tuple, channels_first: bool) -> tuple:
    """The model's own input shape for camlens's channels-last `shape`."""
    shape = tuple(shape)
    return (shape[0], shape[-1], *shape[1:-1]) if channels_first else shape


def channels_last_shape(shape: tuple, channels_first: bool) -> tuple:
    """camlens's channels-last shape for the model's own `shape`."""
    shape = tuple(shape)
    return (shape[0], *shape[2:], shape[1]) if channels_first else shape


def _names(names: list) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
