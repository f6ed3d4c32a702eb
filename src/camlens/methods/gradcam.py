"""Grad-CAM (Selvaraju et al. 2017).

The weight of channel k for target c is the spatial mean of d y^c / d A^k; the
map is the weighted sum of the channels (the ReLU comes with the normalisation).
"""

from __future__ import annotations

import numpy as np

from .combine import weighted_sum
from .normalize import relu_normalize


def channel_weights(inputs) -> np.ndarray:
    """(N, K, C): each channel's mean gradient over the locations."""
    gradients = inputs.gradients
    return gradients.mean(axis=tuple(range(2, gradients.ndim - 1)))


def gradcam(weights: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """ELI5's Grad-CAM combination for one image and one target.

    Args:
        weights: (C,) channel weights, e.g. the mean gradient per channel.
        activations: (h, w, C) the layer's activations.

    Returns:
        (h, w) float64 heatmap in [0, 1]: ReLU of the weighted sum of the
        channels, divided by its maximum plus 1e-7 (all-zero stays all-zero).
    """
    weights = np.asarray(weights)
    activations = np.asarray(activations)
    if weights.ndim != 1 or activations.ndim != 3:
        raise ValueError(
            "gradcam expects weights of shape (C,) and activations of shape "
            f"(h, w, C). Received: weights.shape={weights.shape}, "
            f"activations.shape={activations.shape}"
        )
    if weights.shape[0] != activations.shape[-1]:
        raise ValueError(
            "weights must have one entry per channel of activations. Received: "
            f"weights.shape={weights.shape}, activations.shape={activations.shape}"
        )
    return relu_normalize(weighted_sum(activations[None], weights[None, None]))[0, 0]
