"""Several layers at once (`layers=[...]`): multi-layer CAM, as in Layer-CAM's paper.

Each layer's maps are computed and normalised as for that layer alone, upsampled
bilinearly to the finest layer's grid (the one with the most locations),
combined by their mean or their maximum, and normalised again. Jiang et al.
fuse Layer-CAM's maps of several stages this way to keep the fine detail of
early layers with the class focus of late ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from .maps import Maps
from .methods.normalize import relu_normalize, signed_normalize
from .resize import upsample

COMBINATIONS = ("mean", "max")


def check_layers(layers, layer) -> list | None:
    """`None`, or a non-empty list of layers (instances, names or indices), without `layer`."""
    if layers is None:
        return None
    if isinstance(layers, (str, int, keras.layers.Layer)) or not isinstance(layers, Sequence):
        raise TypeError(
            "layers must be a list of layers (instances, names or indices into "
            f"model.layers). Received: layers={layers!r} of type {type(layers).__name__}"
        )
    if not layers:
        raise ValueError("layers must name at least one layer. Received: layers=[]")
    if layer is not None:
        raise ValueError(
            "Pass either layer= (one layer) or layers= (several), not both. "
            f"Received: layer={layer!r}, layers={layers!r}"
        )
    return list(layers)


def check_combine(combine) -> str:
    if combine not in COMBINATIONS:
        raise ValueError(
            f"combine must be one of {COMBINATIONS} (how the maps of layers= are "
            f"combined). Received: combine={combine!r}"
        )
    return combine


def combined(parts: list[Maps], combine: str, relu: bool) -> Maps:
    """One `Maps` from the maps of the same images and targets at several layers."""
    finest = max((maps.heatmaps.shape[2:] for maps in parts), key=np.prod)
    stacked = np.stack([upsample(maps.heatmaps, finest) for maps in parts])
    heatmaps = stacked.mean(axis=0) if combine == "mean" else stacked.max(axis=0)
    first = parts[0]
    return Maps(
        heatmaps=relu_normalize(heatmaps) if relu else signed_normalize(heatmaps),
        targets=first.targets,
        scores=first.scores,
        outputs=first.outputs,
    )
