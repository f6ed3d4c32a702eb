"""XGrad-CAM (Fu et al. 2020), the axiom-based Grad-CAM.

Channel weights are the gradients averaged with the channel's own activations as
weights: w_k = sum_ij (A_ij^k / sum_ab A_ab^k) g_ij^k. A channel whose
activations sum to 0 gets weight 0.
"""

from __future__ import annotations

import numpy as np


def channel_weights(inputs) -> np.ndarray:
    """(N, K, C): the gradients averaged with the channel's activations as weights."""
    activations = inputs.activations.astype(np.float64)  # (N, *spatial, C)
    totals = activations.sum(axis=tuple(range(1, activations.ndim - 1)), keepdims=True)
    share = activations / np.where(totals != 0, totals, 1.0)
    gradients = inputs.gradients.astype(np.float64)
    count, targets, channels = gradients.shape[0], gradients.shape[1], gradients.shape[-1]
    return np.einsum(  # the locations flattened: one axis for any input rank
        "nsc,nksc->nkc",
        share.reshape(count, -1, channels),
        gradients.reshape(count, targets, -1, channels),
    )
