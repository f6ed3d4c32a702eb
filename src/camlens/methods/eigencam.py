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
    count, height, width, channels = activations.shape
    targets = inputs.gradients.shape[1]
    maps = np.empty((count, height, width))
    for n in range(count):
        matrix = activations[n].reshape(height * width, channels)
        _, _, right = np.linalg.svd(matrix, full_matrices=False)
        projection = matrix @ right[0]
        if projection.sum() < 0:
            projection = -projection
        maps[n] = projection.reshape(height, width)
    return np.repeat(maps[:, None], targets, axis=1)
