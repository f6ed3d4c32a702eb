"""Eigen-CAM (Muhammad & Yeasin 2020).

The activations (h*w, C) of an image are projected on their first right singular
vector: the map is the first principal component, without gradients and without
regard to the class (every target of an image gets the same map). As in the
paper the activations are not centred. A singular vector's sign is arbitrary;
camlens picks the one that makes the projection's sum positive, so the map
highlights what the layer responds to most.
"""

from __future__ import annotations

import numpy as np

from .threads import one_blas_thread


def raw_maps(inputs) -> np.ndarray:
    """First-principal-component projections (N, K, h, w), the same for all K."""
    activations = inputs.activations.astype(np.float64)
    with one_blas_thread():
        maps = np.stack([first_component(image) for image in activations])
    return inputs.for_every_target(maps)


def first_component(features: np.ndarray) -> np.ndarray:
    """Projection of each location on the first right singular vector, sum >= 0.

    Computed from the smaller Gram matrix (M M^T or M^T M) with `eigh`: the
    projection M v_1 is sigma_1 u_1, and the symmetric eigenproblem of the
    smaller side is many times faster than the SVD of a (49, 1280) matrix.

    Args:
        features: (*spatial, C) one image's (weighted) activations.

    Returns:
        (*spatial,) float64.
    """
    matrix = features.reshape(-1, features.shape[-1]).astype(np.float64)
    if matrix.shape[0] <= matrix.shape[1]:
        values, vectors = np.linalg.eigh(matrix @ matrix.T)
        projection = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
    else:
        projection = matrix @ np.linalg.eigh(matrix.T @ matrix)[1][:, -1]
    if projection.sum() < 0:
        projection = -projection
    return projection.reshape(features.shape[:-1])
