"""Test-time augmentation of maps: `smooth="aug"`.

As pytorch-grad-cam's `aug_smooth`: the image and its horizontal flip, each with
its intensities scaled by 0.9, 1 and 1.1, are explained for the classes chosen
for the image itself; the flipped maps are flipped back and the six averaged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .methods.normalize import relu_normalize, signed_normalize
from .targets import ID, SIMILAR, TOP, TargetPlan

AUGMENT = "aug"
SCALES = (0.9, 1.0, 1.1)
"""The intensity factors, each with and without a horizontal flip."""


def augmented(
    images: np.ndarray,
    plan: TargetPlan,
    heatmaps: np.ndarray,
    explained: np.ndarray,
    heatmaps_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    relu: bool,
) -> np.ndarray:
    """Heatmaps (N, K, ..., w) averaged over the flips and intensity scales.

    Args:
        images: (N, ..., W, C) the prepared input batch (flipped along W).
        plan: its targets; class ids only (a region or a callable of a
            flipped image would need flipping too).
        heatmaps: (N, K, ..., w) the maps of `images` themselves.
        explained: (N, K) the class ids those maps explain.
        heatmaps_of: `heatmaps_of(batch, ids)`, the maps of a variant batch
            for class ids (N, K).
        relu: how the average is normalised, as the method's maps.
    """
    if not all(slot.kind in (TOP, ID, SIMILAR) and slot.output is None for slot in plan.slots):
        raise ValueError(
            "smooth='aug' explains each flipped and rescaled image for the image's "
            "own classes, so it needs class-id targets (None, ids, Class). "
            f"Received: targets {plan.slots}"
        )
    total = np.zeros(heatmaps.shape)
    for flip in (False, True):
        for factor in SCALES:
            if not flip and factor == 1.0:
                total += heatmaps
                continue
            variant = images * np.float32(factor)
            if flip:
                variant = np.flip(variant, axis=-2)
            maps = heatmaps_of(np.ascontiguousarray(variant), explained)
            total += np.flip(maps, axis=-1) if flip else maps
    mean = total / (2 * len(SCALES))
    return relu_normalize(mean) if relu else signed_normalize(mean)
