"""Several layers at once (`layers=[...]`): multi-layer CAM, as in Layer-CAM's paper.

Each layer's maps are computed and normalised as for that layer alone, upsampled
bilinearly to the finest layer's grid (the one with the most locations),
combined by their mean or their maximum, and normalised again. Jiang et al.
fuse Layer-CAM's maps of several stages this way to keep the fine detail of
early layers with the class focus of late ones.
"""

from __future__ import annotations

import numpy as np

from ..resize import upsample
from .normalize import relu_normalize, signed_normalize

COMBINATIONS = ("mean", "max")


def fused(heatmaps: list[np.ndarray], combine: str, relu: bool) -> np.ndarray:
    """One set of heatmaps (N, K, *finest) from the same images' maps at several layers.

    Args:
        heatmaps: per layer, (N, K, *spatial) normalised maps.
        combine: one of `COMBINATIONS`.
        relu: how the result is normalised, as the layers' maps.
    """
    finest = max((maps.shape[2:] for maps in heatmaps), key=np.prod)
    stacked = np.stack([upsample(maps, finest) for maps in heatmaps])
    result = stacked.mean(axis=0) if combine == "mean" else stacked.max(axis=0)
    return relu_normalize(result) if relu else signed_normalize(result)
