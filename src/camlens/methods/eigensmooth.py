"""`smooth="eigen"`: each map replaced by the first principal component of its terms.

Most CAM maps are a sum over channels of per-channel terms, w_k A^k or an
element-wise product such as g * A. Eigen smoothing, pytorch-grad-cam's
`eigen_smooth`, projects those terms, (h*w, C) for one image and target, on
their first principal component instead of summing them, which keeps the
dominant pattern and drops the noise of the minor ones. As camlens's Eigen-CAM
does (after its paper), the terms are not centred; pytorch-grad-cam centres
them. A principal component's sign is arbitrary: camlens picks the one that
agrees with the channel sum it replaces, so that a smoothed map keeps the
direction of the evidence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .eigencam import first_component
from .threads import one_blas_thread

EIGEN = "eigen"


def terms_from_weights(channel_weights: Callable) -> Callable:
    """`channel_terms(inputs)` of a method whose map is sum_k w_k A^k."""

    def channel_terms(inputs) -> np.ndarray:
        weights = channel_weights(inputs)  # (N, K, C)
        activations = inputs.activations.astype(np.float64)[:, None]
        spatial = (slice(None), slice(None)) + (None,) * (activations.ndim - 3)
        return activations * weights[spatial]

    return channel_terms


def projected(terms: np.ndarray) -> np.ndarray:
    """Maps (N, K, *spatial) from terms (N, K, *spatial, C), signed like their channel sums."""
    maps = np.empty(terms.shape[:-1])
    with one_blas_thread():
        for index in np.ndindex(*terms.shape[:2]):
            projection = first_component(terms[index])
            if np.sum(projection * terms[index].sum(axis=-1)) < 0:
                projection = -projection
            maps[index] = projection
    return maps
