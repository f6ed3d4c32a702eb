"""The normalisation shared by the methods: ELI5's ReLU and divide-by-maximum."""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7
"""Added to the maximum, as ELI5 did (Keras's epsilon): an all-zero map stays zero."""


def relu_normalize(maps: np.ndarray) -> np.ndarray:
    """ReLU, then divide each map by its maximum plus `EPSILON`.

    Args:
        maps: (N, K, *spatial) raw maps: (N, K, h, w), or (N, K, t) and
            (N, K, d, h, w) for 1-D and 3-D inputs.

    Returns:
        Maps of the same shape, float64, values in [0, 1).
    """
    maps = np.maximum(np.asarray(maps, dtype=np.float64), 0.0)
    return maps / (maps.max(axis=_spatial(maps), keepdims=True) + EPSILON)


def signed_normalize(maps: np.ndarray) -> np.ndarray:
    """Divide each map by its largest magnitude plus `EPSILON`: values in (-1, 1).

    Keeps negative evidence (`relu=False`): negative values mark regions that
    lower the target score.
    """
    maps = np.asarray(maps, dtype=np.float64)
    return maps / (np.abs(maps).max(axis=_spatial(maps), keepdims=True) + EPSILON)


def _spatial(maps: np.ndarray) -> tuple:
    """The axes of one map: all after (N, K)."""
    return tuple(range(2, maps.ndim))
