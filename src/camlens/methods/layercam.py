"""Layer-CAM (Jiang et al. 2021).

Each activation is weighted by its own positive gradient, not by a channel mean,
which keeps fine detail in early layers: map = sum_k ReLU(g^k) * A^k.
"""

from __future__ import annotations

import numpy as np


def raw_maps(inputs) -> np.ndarray:
    """Element-wise weighted channel sums (N, K, h, w) before ReLU."""
    return np.einsum(
        "nkhwc,nhwc->nkhw",
        np.maximum(inputs.gradients.astype(np.float64), 0),
        inputs.activations.astype(np.float64),
    )
