"""The sum over channels that most CAM methods end with: sum_k w_k A^k."""

from __future__ import annotations

import numpy as np


def weighted_sum(activations: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum of channels weighted per target, in float64.

    Args:
        activations: (N, *spatial, C), e.g. (N, h, w, C).
        weights: (N, K, C).

    Returns:
        (N, K, *spatial).
    """
    return np.einsum("n...c,nkc->nk...", activations.astype(np.float64), weights.astype(np.float64))


def weighted_terms(activations: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The terms w_k A^k of `weighted_sum`, before the sum: (N, K, *spatial, C)."""
    activations = activations.astype(np.float64)[:, None]
    spatial = (slice(None), slice(None)) + (None,) * (activations.ndim - 3)
    return activations * weights.astype(np.float64)[spatial]
