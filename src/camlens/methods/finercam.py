"""Finer-CAM (Zhang et al. 2025): the target against its most similar classes.

Grad-CAM explains everything that raises the target's score, including what the
target shares with classes that look alike. Finer-CAM explains the difference
instead: Grad-CAM's weights taken from the gradient of
sum_d (y^c - GAMMA * y^d), over the COMPARISONS classes d the model scores
highest after the target c (the most similar ones, by the model's own
prediction). y is the score before the softmax, as in the paper
(`score="logit"` by default). GAMMA = 1 and three comparison classes are the
defaults of pytorch-grad-cam's `FinerCAM`.

The comparison classes' gradients come from the same probe pass as the
target's: the explainer adds one target slot per comparison class.
"""

from __future__ import annotations

import numpy as np

COMPARISONS = 3
"""How many of the most similar classes each target is compared with."""

GAMMA = 1.0
"""The comparison strength: 0 gives Grad-CAM, 1 the full difference."""


def channel_weights(inputs) -> np.ndarray:
    """(N, K, C): the mean gradient of the score differences per channel."""
    gradients = inputs.gradients.astype(np.float64)  # (N, K, *spatial, C)
    comparisons = inputs.comparison_gradients.astype(np.float64)  # (N, K, M, *spatial, C)
    difference = comparisons.shape[2] * gradients - GAMMA * comparisons.sum(axis=2)
    spatial = tuple(range(2, difference.ndim - 1))
    return difference.mean(axis=spatial)
