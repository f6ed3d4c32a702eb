"""Guided Grad-CAM (Selvaraju et al. 2017): Grad-CAM times guided backpropagation.

Grad-CAM's map, ReLU applied and bilinearly upsampled to the input size,
multiplies the guided-backpropagation gradients of the target score with respect
to the input (Springenberg et al. 2015: every ReLU passes back only positive
gradients), so the map has the input's resolution. The paper shows the product
as an image with the input's colour channels; a heatmap has one value per pixel,
so camlens takes the largest magnitude over the channels, as Simonyan et al.'s
saliency maps do.
"""

from __future__ import annotations

import numpy as np

from ..resize import upsample
from .combine import weighted_sum
from .gradcam import channel_weights as gradcam_weights
from .normalize import relu_normalize


def raw_maps(inputs) -> np.ndarray:
    """Guided Grad-CAM maps (N, K, H, W) at the input's resolution ((N, K, T)
    or (N, K, D, H, W) for 1-D and 3-D inputs).

    Both factors are scaled to [0, 1] first (Grad-CAM's heatmap, as in the
    paper): input gradients are small, and their product would otherwise be
    of the order of the normalisation's epsilon.
    """
    gradcam_maps = weighted_sum(inputs.activations, gradcam_weights(inputs))
    coarse = upsample(relu_normalize(gradcam_maps), inputs.images.shape[1:-1])
    guided = np.abs(inputs.guided_gradients()).max(axis=-1)  # (N, K, *input spatial)
    return coarse * relu_normalize(guided)
