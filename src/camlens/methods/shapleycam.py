"""Shapley-CAM (Cai 2024, "CAMs as Shapley value-based explainers").

The Shapley value of the activations, with a second-order Taylor expansion of
the score around them, is g - H A / 2 per activation (g = dy/dA, H the Hessian
d^2 y / dA^2); Shapley-CAM takes Grad-CAM's channel weights from it:
w_k = mean_ij (g - H A / 2)_ij^k, map = sum_k w_k A^k. The Hessian-vector
product H A comes from the probe (a second backward pass, per backend). For a
network that is piecewise linear after the layer H A is 0 and Shapley-CAM is
Grad-CAM; a softmax makes them differ.

The paper recommends its ReST score (the logit plus the log-probability),
which camlens does not offer yet; it explains the model's output (post-softmax)
by default, where the second-order term is not 0.
"""

from __future__ import annotations

import numpy as np


def channel_weights(inputs) -> np.ndarray:
    """(N, K, C): the mean Shapley value g - H A / 2 per channel."""
    values = inputs.gradients.astype(np.float64) - 0.5 * inputs.hessian_products()
    spatial = tuple(range(2, values.ndim - 1))
    return values.mean(axis=spatial)
