"""KPCA-CAM (Karmani et al. 2024): Eigen-CAM with kernel PCA.

Gradient-free and class-agnostic. The activations of an image, one row per
location (h*w, C), are compared pairwise with a Gaussian kernel
k(x, y) = exp(-GAMMA / C * |x - y|^2); the kernel matrix is centred in feature
space (Schölkopf et al. 1998) and the map is each location's projection on the
first kernel principal component, sqrt(lambda_1) v_1. Centred projections sum to
0, so the sign is the one that correlates positively with the locations' total
activation: the map highlights what the layer responds to most.

The paper compares kernels; camlens uses the Gaussian one, with scikit-learn's
default width (1 / C). pytorch-grad-cam's `KPCA_CAM` uses a sigmoid kernel by
default. Cost: a (h*w, h*w) eigenproblem per image, fine at the last
convolutional layers (7x7 to 14x14), slow from about 56x56 on.
"""

from __future__ import annotations

import numpy as np

from .threads import one_blas_thread

GAMMA = 1.0
"""The kernel's width factor: gamma = GAMMA / C for a layer with C channels."""


def raw_maps(inputs) -> np.ndarray:
    """First-kernel-principal-component projections (N, K, h, w), the same for all K."""
    activations = inputs.activations.astype(np.float64)
    with one_blas_thread():
        maps = np.stack([kernel_component(image) for image in activations])
    return inputs.for_every_target(maps)


def kernel_component(features: np.ndarray) -> np.ndarray:
    """One image's projections on its first kernel principal component.

    Args:
        features: (*spatial, C) activations.

    Returns:
        (*spatial,) float64.
    """
    matrix = features.reshape(-1, features.shape[-1]).astype(np.float64)
    squared = (matrix**2).sum(axis=1)
    distances = np.maximum(squared[:, None] + squared[None] - 2 * matrix @ matrix.T, 0)
    kernel = np.exp(-GAMMA / matrix.shape[1] * distances)
    row_means = kernel.mean(axis=0)
    centred = kernel - row_means[None] - row_means[:, None] + kernel.mean()
    values, vectors = np.linalg.eigh(centred)
    projection = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
    if projection @ (matrix.sum(axis=1) - matrix.sum(axis=1).mean()) < 0:
        projection = -projection
    return projection.reshape(features.shape[:-1])
