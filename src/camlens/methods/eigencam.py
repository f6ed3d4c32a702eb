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


def raw_maps(inputs) -> np.ndarray:
    """First-principal-component projections (N, K, h, w), the same for all K."""
    activations = inputs.activations.astype(np.float64)
    maps = np.stack([first_component(image) for image in activations])
    return inputs.for_every_target(maps)


def first_component(features: np.ndarray) -> np.ndarray:
    """Projection of each location on the first right singular vector, sum >= 0.

    Args:
        features: (*spatial, C) one image's (weighted) activations.

    Returns:
        (*spatial,) float64.
    """
    matrix = features.reshape(-1, features.shape[-1]).astype(np.float64)
    _, _, right = np.linalg.svd(matrix, full_matrices=False)
    projection = matrix @ right[0]
    if projection.sum() < 0:
        projection = -projection
    return projection.reshape(features.shape[:-1])
