"""Eigen-Grad-CAM: Eigen-CAM of the activations times the gradients.

pytorch-grad-cam's class-discriminative variant of Eigen-CAM (Muhammad & Yeasin
2020; it has no paper of its own): for each image and target the element-wise
product A * dy^c/dA, (h*w, C), is projected on its first right singular vector.
camlens follows the Eigen-CAM paper, as `eigencam` does: the product is not
centred (pytorch-grad-cam centres it) and the sign is the one whose projection
sums to a positive value.
"""

from __future__ import annotations

import numpy as np

from .eigencam import first_component
from .threads import one_blas_thread


def raw_maps(inputs) -> np.ndarray:
    """First-principal-component projections (N, K, h, w) of A * g."""
    products = inputs.activations[:, None].astype(np.float64) * inputs.gradients
    with one_blas_thread():
        return np.stack(
            [np.stack([first_component(target) for target in image]) for image in products]
        )
