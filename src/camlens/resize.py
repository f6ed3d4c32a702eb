"""Bilinear resizing of maps in numpy, as separable matrix products."""

from __future__ import annotations

import numpy as np


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize the last two axes of `maps` to `size` = (height, width), bilinearly.

    Args:
        maps: (..., h, w).

    Returns:
        (..., height, width) float64.
    """
    rows = interpolation_matrix(size[0], maps.shape[-2])
    cols = interpolation_matrix(size[1], maps.shape[-1])
    return rows @ np.asarray(maps, np.float64) @ cols.T  # two matrix products, batched


def interpolation_matrix(size_out: int, size_in: int) -> np.ndarray:
    """(size_out, size_in) bilinear resampling with half-pixel centres, edges clamped."""
    source = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    source = np.clip(source, 0, size_in - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    fraction = source - low
    matrix = np.zeros((size_out, size_in))
    matrix[np.arange(size_out), low] += 1 - fraction
    matrix[np.arange(size_out), high] += fraction
    return matrix
