"""Localization checks against known object positions.

- Pointing game (Zhang et al. 2016): does the heatmap's maximum fall on the object?
- Energy-based pointing game (Wang et al. 2020): which share of the heatmap's
  mass lies on the object?

Heatmaps are upsampled bilinearly to the mask's size first.
"""

from __future__ import annotations

import numpy as np

from ..resize import upsample


def pointing_game(heatmaps: np.ndarray, masks: np.ndarray, tolerance: int = 0) -> np.ndarray:
    """Whether each heatmap's maximum falls on its object.

    Args:
        heatmaps: (N, h, w) maps.
        masks: (N, H, W) bool, True on the object (a box can be given as a mask).
        tolerance: a hit may miss the object by up to this many pixels
            (Chebyshev distance); Zhang et al. used 15 pixels on full-size images.

    Returns:
        (N,) bool hits; their mean is the pointing-game accuracy.
    """
    heatmaps, masks = _check(heatmaps, masks)
    resized = upsample(heatmaps, masks.shape[1:])
    hits = np.empty(len(masks), dtype=bool)
    for n, (heatmap, mask) in enumerate(zip(resized, masks)):
        row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        near = mask[
            max(row - tolerance, 0) : row + tolerance + 1,
            max(col - tolerance, 0) : col + tolerance + 1,
        ]
        hits[n] = bool(near.any())
    return hits


def energy_pointing_game(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The share of each heatmap's mass that lies on its object.

    Args:
        heatmaps: (N, h, w) maps with non-negative values.
        masks: (N, H, W) bool, True on the object (or its bounding box).

    Returns:
        (N,) floats in [0, 1]; an all-zero map scores 0.
    """
    heatmaps, masks = _check(heatmaps, masks)
    if (heatmaps < 0).any():
        raise ValueError("heatmaps must be non-negative for the energy-based pointing game.")
    resized = upsample(heatmaps, masks.shape[1:])
    totals = resized.sum(axis=(1, 2))
    inside = (resized * masks).sum(axis=(1, 2))
    return np.where(totals > 0, inside / np.where(totals > 0, totals, 1.0), 0.0)


def boxes_to_masks(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W) bool masks of (N, 4) boxes (top, left, bottom, right), ends exclusive."""
    boxes = np.asarray(boxes)
    masks = np.zeros((len(boxes),) + tuple(size), dtype=bool)
    for mask, (top, left, bottom, right) in zip(masks, boxes):
        mask[top:bottom, left:right] = True
    return masks


def _check(heatmaps, masks) -> tuple[np.ndarray, np.ndarray]:
    heatmaps, masks = np.asarray(heatmaps, np.float64), np.asarray(masks)
    if heatmaps.ndim != 3 or masks.ndim != 3 or len(heatmaps) != len(masks):
        raise ValueError(
            "heatmaps must be (N, h, w) and masks (N, H, W) with the same N. "
            f"Received: heatmaps.shape={heatmaps.shape}, masks.shape={masks.shape}"
        )
    if masks.dtype != bool:
        raise TypeError(f"masks must be boolean. Received: masks.dtype={masks.dtype}")
    return heatmaps, masks
