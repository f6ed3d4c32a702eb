"""Layer-CAM (Jiang et al. 2021).

Each activation is weighted by its own positive gradient, not by a channel mean,
which keeps fine detail in early layers: map = sum_k ReLU(g^k) * A^k.
"""

from __future__ import annotations

import numpy as np


def channel_terms(inputs) -> np.ndarray:
    """(N, K, h, w, C): ReLU(g) * A, the terms the map sums over channels."""
    terms = np.maximum(inputs.gradients.astype(np.float64), 0)
    terms *= inputs.activations[:, None]  # in place: one (N, K, h, w, C) array, as before
    return terms
