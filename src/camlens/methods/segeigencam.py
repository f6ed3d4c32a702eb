"""Seg-Eigen-CAM (Chung & Ying 2025, Applied Sciences 15(13) 7562).

Eigen-CAM made class-specific for segmentation models: for each image and
target the activations are weighted element-wise by the gradients' magnitude,
|dy^c/dA| * A (h*w, C), so that a location counts by how strongly the score
reacts to it there, whichever way; the weighted activations are centred over
the locations and projected on their first right singular vector; and the
projection's arbitrary sign is chosen so that its largest magnitude is positive
(flipped where |min| > |max|).

camlens follows pytorch-grad-cam's `SegEigenCAM` (its #580, which cites the
paper), centring included; camlens's Eigen-CAM does not centre (its paper does
not). Because |g| ignores the gradient's sign, a counterfactual map is the same
map. It suits segmentation models (a `Region` target) as well as classifiers.
"""

from __future__ import annotations

import numpy as np

from .threads import one_blas_thread


def raw_maps(inputs) -> np.ndarray:
    """Sign-corrected first-component projections (N, K, *spatial) of |g| * A."""
    weighted = np.abs(inputs.gradients) * inputs.activations[:, None].astype(np.float64)
    with one_blas_thread():
        return np.stack(
            [np.stack([corrected_component(target) for target in image]) for image in weighted]
        )


def corrected_component(features: np.ndarray) -> np.ndarray:
    """The centred rows of `features` (*spatial, C) projected on their first right
    singular vector, signed so that the largest magnitude is positive."""
    matrix = features.reshape(-1, features.shape[-1])
    matrix = matrix - matrix.mean(axis=0)
    if matrix.shape[0] <= matrix.shape[1]:  # the smaller Gram matrix's eigenproblem
        values, vectors = np.linalg.eigh(matrix @ matrix.T)
        projection = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
    else:
        projection = matrix @ np.linalg.eigh(matrix.T @ matrix)[1][:, -1]
    if -projection.min() > projection.max():
        projection = -projection
    return projection.reshape(features.shape[:-1])
