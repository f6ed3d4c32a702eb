"""KPCA-CAM (Karmani et al. 2024): Eigen-CAM with kernel PCA.

Gradient-free and class-agnostic. The activations of an image, one row per
location (h*w, C), are centred over the locations and compared pairwise with a
kernel; the kernel matrix is centred in feature space (Schölkopf et al. 1998)
and the map is each location's projection on the first kernel principal
component, sqrt(lambda_1) v_1.

The paper's code is pytorch-grad-cam's `KPCA_CAM` (the paper links it): its
defaults are a sigmoid kernel, k(x, y) = tanh(gamma x.y + 1) with gamma = 1 / C
(scikit-learn's `KernelPCA(kernel="sigmoid")`), on the centred activations.
camlens computes the same (it used a Gaussian kernel before) and departs in
one point, the sign. A kernel principal component's sign is arbitrary;
pytorch-grad-cam keeps scikit-learn's convention for deterministic output (the
location of largest magnitude positive), which says nothing about what the layer
responds to. camlens chooses the sign that correlates positively with the
locations' total activation, as its Eigen-CAM does, so the map highlights what
the layer responds to most; where the two signs agree the maps are equal
(`benchmarks/agreement.py`). Cost: a (h*w, h*w) eigenproblem per image, fine at
the last convolutional layers (7x7 to 14x14), slow from about 56x56 on.
"""

from __future__ import annotations

import numpy as np

from .threads import one_blas_thread

GAMMA = 1.0
"""The kernel's scale: gamma = GAMMA / C for a layer with C channels."""


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
    centred_rows = matrix - matrix.mean(axis=0)
    gram = np.tanh(GAMMA / matrix.shape[1] * centred_rows @ centred_rows.T + 1.0)
    row_means = gram.mean(axis=0)
    centred = gram - row_means[None] - row_means[:, None] + gram.mean()
    values, vectors = np.linalg.eigh(centred)
    projection = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
    totals = matrix.sum(axis=1)
    if projection @ (totals - totals.mean()) < 0:
        projection = -projection
    return projection.reshape(features.shape[:-1])
