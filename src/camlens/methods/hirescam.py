"""HiResCAM (Draelos & Carin 2020).

The element-wise product of gradients and activations, summed over channels:
map = sum_k g^k * A^k. Unlike Grad-CAM's channel means, it reflects exactly the
locations the score depends on (for a model ending in GAP and a dense layer it
equals CAM).
"""

from __future__ import annotations

import numpy as np


def channel_terms(inputs) -> np.ndarray:
    """(N, K, h, w, C): g * A, the terms the map sums over channels."""
    terms = inputs.gradients.astype(np.float64)
    terms *= inputs.activations[:, None]  # in place: one (N, K, h, w, C) array, as before
    return terms
