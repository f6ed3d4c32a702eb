"""Boxes in numpy: formats, intersection over union, greedy non-max suppression,
finding boxes back among predictions.

camlens works with boxes as `(top, left, bottom, right)` in input pixels
("yxyx", keras-hub's default); other formats are converted by Keras's own
`keras.utils.bounding_boxes.convert_format`. The module imports Keras only
there: the methods (D-RISE) use its IoU, and `import camlens` imports no Keras.
"""

from __future__ import annotations

import numpy as np


def to_yxyx(boxes, box_format: str, height: int, width: int) -> np.ndarray:
    """`boxes` (..., 4) in `box_format` as yxyx input pixels, float64."""
    boxes = np.asarray(boxes, np.float32)
    if box_format != "yxyx":
        import keras

        boxes = keras.ops.convert_to_numpy(
            keras.utils.bounding_boxes.convert_format(
                boxes, source=box_format, target="yxyx", height=height, width=width
            )
        )
    return np.asarray(boxes, np.float64)


def iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(...,) the intersection over union of each of `boxes` (..., 4) with `box` (4,), yxyx."""
    top = np.maximum(boxes[..., 0], box[0])
    left = np.maximum(boxes[..., 1], box[1])
    bottom = np.minimum(boxes[..., 2], box[2])
    right = np.minimum(boxes[..., 3], box[3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    union = area(boxes) + area(box) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def area(boxes: np.ndarray) -> np.ndarray:
    """(...,) the area of each yxyx box of `boxes` (..., 4) (0 for an empty one)."""
    height = np.clip(boxes[..., 2] - boxes[..., 0], 0, None)
    return height * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def non_max_suppression(
    boxes: np.ndarray, confidences: np.ndarray, iou_threshold: float, min_score: float, k: int
) -> np.ndarray:
    """The rows kept by greedy non-max suppression, most confident first.

    Class-agnostic, as keras-hub's `NonMaxSuppression`: a box is dropped when
    it overlaps a more confident kept one with IoU above `iou_threshold`.

    Args:
        boxes: (R, 4) yxyx.
        confidences: (R,) each prediction's confidence.
        min_score: the least confidence kept.
        k: at most this many rows.
    """
    order = np.argsort(-confidences, kind="stable")
    order = order[confidences[order] >= min_score]
    kept: list[int] = []
    for row in order:
        if len(kept) == k:
            break
        if not kept or iou(boxes[kept], boxes[row]).max() <= iou_threshold:
            kept.append(int(row))
    return np.asarray(kept, np.int64)


def nearest_rows(found: np.ndarray, boxes: np.ndarray, within: float):
    """`(rows, distances)`, (D,) each: for each of `found` (D, 4), the row of
    `boxes` (R, 4) nearest to it (the largest coordinate difference; the first
    row of a tie) and that distance.

    Exactly `np.abs(boxes - box).max(axis=1).argmin()` per box, but the rows
    looked at are first those whose top is within `2 * within` of the box's (one
    sorted search for all boxes): a row nearer than `within` is among them, and
    only a box with none that near is compared with every row.
    """
    found = np.asarray(found, np.float64).reshape(-1, 4)
    order = np.argsort(boxes[:, 0], kind="stable")
    tops = boxes[order, 0]
    low = np.searchsorted(tops, found[:, 0] - 2 * within, side="left")
    counts = np.searchsorted(tops, found[:, 0] + 2 * within, side="right") - low
    owner = np.repeat(np.arange(len(found)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    candidates = order[np.repeat(low, counts) + offsets]
    distance = np.abs(boxes[candidates] - found[owner]).max(axis=1)
    rows = np.zeros(len(found), np.int64)
    distances = np.full(len(found), np.inf)
    ranked = np.lexsort((candidates, distance, owner))  # by box, nearest, first row
    if len(ranked):
        first = ranked[np.r_[True, np.diff(owner[ranked]) != 0]]
        rows[owner[first]], distances[owner[first]] = candidates[first], distance[first]
    for d in np.flatnonzero(~(distances <= within)):  # none that near: every row
        every = np.abs(boxes - found[d]).max(axis=1)
        rows[d] = every.argmin()
        distances[d] = every[rows[d]]
    return rows, distances
