"""Smoothing of maps: `smooth="aug"` and `smooth="eigen"`.

- `"aug"`, as pytorch-grad-cam's `aug_smooth`: the image and its horizontal
  flip, each with its intensities scaled by 0.9, 1 and 1.1, are explained for
  the classes chosen for the image itself; the flipped maps are flipped back and
  the six averaged (`augmented`).
- `"eigen"`, pytorch-grad-cam's `eigen_smooth`: most CAM maps are a sum over
  channels of per-channel terms, w_k A^k or an element-wise product such as
  g * A. Eigen smoothing projects those terms, (h*w, C) for one image and
  target, on their first principal component instead of summing them, which
  keeps the dominant pattern and drops the noise of the minor ones
  (`projected`). As camlens's Eigen-CAM does (after its paper), the terms are
  not centred; pytorch-grad-cam centres them. A principal component's sign is
  arbitrary: camlens picks the one that agrees with the channel sum it replaces,
  so that a smoothed map keeps the direction of the evidence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .eigencam import first_component
from .normalize import relu_normalize, signed_normalize
from .threads import one_blas_thread

AUGMENT = "aug"
EIGEN = "eigen"
SMOOTHINGS = (AUGMENT, EIGEN)

SCALES = (0.9, 1.0, 1.1)
"""The intensity factors of `"aug"`, each with and without a horizontal flip."""


def augmented(
    images: np.ndarray,
    heatmaps: np.ndarray,
    explained: np.ndarray,
    heatmaps_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    relu: bool,
) -> np.ndarray:
    """Heatmaps (N, K, ..., w) averaged over the flips and intensity scales.

    Args:
        images: (N, ..., W, C) the prepared input batch (flipped along W).
        heatmaps: (N, K, ..., w) the maps of `images` themselves.
        explained: (N, K) the class ids those maps explain (only class ids can
            be explained on a flipped image: a region or a callable would need
            flipping too).
        heatmaps_of: `heatmaps_of(batch, ids)`, the maps of a variant batch
            for class ids (N, K).
        relu: how the average is normalised, as the method's maps.
    """
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


def projected(terms: np.ndarray) -> np.ndarray:
    """Maps (N, K, *spatial) from terms (N, K, *spatial, C), signed like their channel sums."""
    maps = np.empty(terms.shape[:-1])
    with one_blas_thread():
        for index in np.ndindex(*terms.shape[:2]):
            projection = first_component(terms[index])
            if np.sum(projection * terms[index].sum(axis=-1)) < 0:
                projection = -projection
            maps[index] = projection
    return maps
