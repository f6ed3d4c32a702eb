"""Linear resizing of maps in numpy (linear, bilinear, trilinear), one axis at a time."""

from __future__ import annotations

import numpy as np


def upsample(maps: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Resize the last `len(size)` axes of `maps` to `size`, linearly along each.

    One axis gives linear, two bilinear, three trilinear interpolation: the
    interpolation is separable, so each axis is one batched matrix product.

    Args:
        maps: (..., h, w) for `size=(height, width)`; (..., t) for `(length,)`;
            (..., d, h, w) for `(depth, height, width)`.

    Returns:
        (..., *size) float64.
    """
    resized = np.asarray(maps, np.float64)
    size = tuple(int(n) for n in size)
    if resized.ndim < len(size):
        raise ValueError(f"maps of shape {resized.shape} have fewer axes than size={size}")
    for axis, size_out in zip(range(-len(size), 0), size):
        matrix = interpolation_matrix(size_out, resized.shape[axis])
        resized = np.moveaxis(np.moveaxis(resized, axis, -1) @ matrix.T, -1, axis)
    return resized


def interpolation_matrix(size_out: int, size_in: int) -> np.ndarray:
    """(size_out, size_in) linear resampling with half-pixel centres, edges clamped."""
    source = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    source = np.clip(source, 0, size_in - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    fraction = source - low
    matrix = np.zeros((size_out, size_in))
    matrix[np.arange(size_out), low] += 1 - fraction
    matrix[np.arange(size_out), high] += fraction
    return matrix
