"""Grad-CAM element-wise: the ReLU of gradient times activation, summed.

pytorch-grad-cam's variant of HiResCAM (Draelos & Carin 2020; no paper of its
own): map = sum_k ReLU(g^k * A^k). Where HiResCAM lets a channel's negative
products cancel another's positive ones, this keeps only what raises the score.
"""

from __future__ import annotations

import numpy as np


def channel_terms(inputs) -> np.ndarray:
    """(N, K, h, w, C): ReLU(g * A), the terms the map sums over channels."""
    return np.maximum(inputs.activations[:, None].astype(np.float64) * inputs.gradients, 0)
