"""Smoothing of maps: `smooth="aug"` and `smooth="eigen"`.

- `"aug"`, as pytorch-grad-cam's `aug_smooth`: the image and its horizontal
  flip, each with its intensities scaled by 0.9, 1 and 1.1, are explained for
  the classes chosen for the image itself; the flipped maps are flipped back and
  the six averaged (`augmented`).
- `"eigen"`, after pytorch-grad-cam's `eigen_smooth`: most CAM maps are a sum
  over channels of per-channel terms, w_k A^k or an element-wise product such as
  g * A. Eigen smoothing replaces that sum by a projection on a first principal
  component, which keeps the dominant pattern and drops the noise of the minor
  ones (`projected`). As camlens's Eigen-CAM does (after its paper), the terms
  are not centred; pytorch-grad-cam centres them.

  The terms are split by sign first, T = T+ - T- (T+ = max(T, 0), T- =
  max(-T, 0)); each part is projected on its own first component, the
  projection scaled to the part's total, and the map is P(T+) - P(T-): the plain
  map's positive and negative evidence, each smoothed, in the same amounts.
  Projecting the mixed-sign terms together, as pytorch-grad-cam does, follows
  the pattern of largest magnitude whatever its sign; where the negative
  evidence is the larger (Grad-CAM at an inner layer, where most channel weights
  are negative), that component is the negative pattern, and no choice of its
  arbitrary sign gives the positive evidence back. On a MobileNetV2 (random
  He-normal weights, the astronaut photo at 96x96, `tests/support/mobilenet.py`),
  Grad-CAM at `block_13_expand_relu`: signed like the channel sum, the one
  component was negative everywhere and the ReLU left a blank map; signed by its
  positive mass, it was unrelated to the plain map (Pearson r = 0.09 after the
  ReLU); split, r = 0.80. Over Grad-CAM, XGrad-CAM, HiResCAM and Shapley-CAM at
  four of its layers, one component was blank in 6 of 16 cases and had r = -0.53
  to 0.82 in the others; split, r = 0.69 to 0.94, never blank. A first component
  of non-negative terms is itself non-negative (Perron-Frobenius), so no sign is
  chosen at all; where the terms are all non-negative already (Layer-CAM at a
  ReLU's output, Grad-CAM element-wise), the map is their projection, as without the split.
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
    """Maps (N, K, *spatial) from terms (N, K, *spatial, C): P(T+) - P(T-) (see above)."""
    maps = np.zeros(terms.shape[:-1])
    with one_blas_thread():
        for index in np.ndindex(*terms.shape[:2]):
            for sign in (1.0, -1.0):
                part = np.maximum(sign * terms[index], 0.0)
                projection = first_component(part) if part.any() else 0.0
                mass = np.sum(projection)
                if mass > 0:
                    maps[index] += sign * projection * (part.sum() / mass)
    return maps
