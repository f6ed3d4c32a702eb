"""Several layers at once (`layers=[...]`): multi-layer CAM, and RefineCAM.

Each layer's maps are computed and normalised as for that layer alone, upsampled
bilinearly to the finest layer's grid (the one with the most locations),
combined, and normalised again:

- `"mean"` or `"max"`: Jiang et al. fuse Layer-CAM's maps of several stages
  this way to keep the fine detail of early layers with the class focus of late
  ones.
- `"product"`: RefineCAM (pytorch-grad-cam's `RefineCAM`, after arXiv
  2605.14641; torch-cam #415): the maps, each in [0, 1], multiplied location by
  location, so a location keeps weight only where every layer points at it; the
  early layers' noise outside the late layers' focus is cancelled, their detail
  inside it kept. pytorch-grad-cam runs Grad-CAM++ per layer and multiplies the
  maps at the input's size; camlens runs the explainer's method and multiplies
  at the finest layer's grid (the upsampling to the input is the same for all).
  A product of signed maps has no meaning (two negatives make a positive), so it
  needs `relu=True`.
"""

from __future__ import annotations

import numpy as np

from ..resize import upsample
from .normalize import relu_normalize, signed_normalize

COMBINATIONS = ("mean", "max", "product")
PRODUCT = "product"


def fused(heatmaps: list[np.ndarray], combine: str, relu: bool) -> np.ndarray:
    """One set of heatmaps (N, K, *finest) from the same images' maps at several layers.

    Args:
        heatmaps: per layer, (N, K, *spatial) normalised maps.
        combine: one of `COMBINATIONS`.
        relu: how the result is normalised, as the layers' maps.
    """
    finest = max((maps.shape[2:] for maps in heatmaps), key=np.prod)
    stacked = np.stack([upsample(maps, finest) for maps in heatmaps])
    if combine == PRODUCT:
        result = stacked.prod(axis=0)
    else:
        result = stacked.mean(axis=0) if combine == "mean" else stacked.max(axis=0)
    return relu_normalize(result) if relu else signed_normalize(result)
