"""Grad-CAM++ (Chattopadhay et al. 2018), with the paper's closed form.

The paper explains Y^c = exp(S^c), with S^c the class score before the softmax,
so that its higher derivatives follow from the first (for networks that are
piecewise linear after the layer): with g = dS^c/dA,

    alpha_ij^k = g_ij^2 / (2 g_ij^2 + sum_ab A_ab^k g_ij^3)
    w_k        = sum_ij alpha_ij^k ReLU(dY^c/dA_ij^k)

and dY/dA = exp(S) g, whose positive factor exp(S) scales every weight of a map
alike and drops out in the normalisation. That is why camlens explains the
pre-softmax score with Grad-CAM++ by default (`score="logit"`): the closed form
does not hold for post-softmax probabilities, which some implementations
differentiate instead. Where the denominator is 0, alpha is 0 (the paper's
convention for g = 0).
"""

from __future__ import annotations

import numpy as np


def channel_weights(inputs) -> np.ndarray:
    """(N, K, C): the closed-form weights w_k."""
    activations = inputs.activations.astype(np.float64)  # (N, *spatial, C)
    gradients = inputs.gradients.astype(np.float64)  # (N, K, *spatial, C)
    squared = gradients**2
    spatial = tuple(range(1, activations.ndim - 1))
    activation_sums = activations.sum(axis=spatial, keepdims=True)[:, None]  # (N, 1, 1.., C)
    denominator = 2 * squared + activation_sums * gradients**3
    safe = np.where(denominator != 0, denominator, 1.0)
    alpha = np.where(denominator != 0, squared / safe, 0.0)
    return (alpha * np.maximum(gradients, 0)).sum(axis=tuple(range(2, gradients.ndim - 1)))
