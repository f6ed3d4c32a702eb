"""D-RISE (Petsiuk et al., "Black-box Explanation of Object Detectors via
Saliency Maps", CVPR 2021): a detection's map from randomly masked images, no
gradient needed.

Each mask M_i is RISE's: a coarse `cells` x `cells` grid of cells kept with
probability `keep`, upsampled bilinearly to (cells + 1) cells of the image's
size and cut at a random shift, so that its edges fall anywhere. The masked
image I * M_i goes through the detector; its weight for a target detection
d_t = (L_t, P_t) is the best similarity between d_t and the masked image's
predictions d_j = (L_j, O_j, P_j):

    w_i = max_j IoU(L_t, L_j) * O_j * cos(P_t, P_j)

with L the boxes, P_t the one-hot vector of the explained class and P_j the
prediction's class probabilities. The detectors camlens knows have no
objectness score; O_j is the prediction's confidence (its largest class
probability), which keeps confident predictions ahead of background ones. The
map is sum_i w_i M_i. The paper compares with the masked image's detections;
camlens compares with all its raw predictions (anchors, queries), O_j weighing
each, which needs no threshold.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..model.boxes import iou
from ..resize import upsample

MASKS = 1000
"""Masks per image by default (the paper used 5000 for its figures)."""

CELLS = 16
"""The coarse grid's size (the paper's s)."""

KEEP = 0.5
"""The probability that a cell is kept (the paper's p)."""

SEED = 0
"""Masks are drawn from this seed: the same masks for every image and call."""


def raw_maps(inputs, masks: int = MASKS, cells: int = CELLS, keep: float = KEEP, seed: int = SEED):
    """(N, K, H, W): each target detection's D-RISE map.

    `inputs.detection_similarities(n, masked)` runs masked copies of image n
    (M, H, W, c) through the detector and returns their (M, K) weights w_i.
    """
    if inputs.detection_similarities is None:
        raise ValueError(
            "D-RISE explains a detector's detections: pass Box or Detections targets "
            "(or None, on a detector camlens recognises). Received: other targets"
        )
    images = inputs.images
    size = images.shape[1:-1]
    maps = np.zeros((len(images), inputs.target_count) + size)
    for start in range(0, masks, inputs.mask_batch_size):
        chunk = random_masks(
            min(inputs.mask_batch_size, masks - start), size, cells, keep, seed, start
        )
        for n in range(len(images)):
            masked = images[n][None] * chunk[..., None].astype(images.dtype)
            weights = inputs.detection_similarities(n, masked)  # (M, K)
            maps[n] += np.einsum("mk,mhw->khw", weights, chunk)
    return inputs.sign * maps


def random_masks(
    count: int,
    size: tuple,
    cells: int = CELLS,
    keep: float = KEEP,
    seed: int = SEED,
    start: int = 0,
) -> np.ndarray:
    """(count, H, W) RISE masks in [0, 1]: masks `start` to `start + count` of
    the sequence the seed draws (each drawn from its own index, so a batch of
    them is the same whatever the batch size)."""
    height, width = size
    cell_h, cell_w = -(-height // cells), -(-width // cells)
    result = np.empty((count, height, width))
    for i in range(count):
        rng = np.random.default_rng((seed, start + i))
        grid = (rng.random((cells, cells)) < keep).astype(np.float64)
        big = upsample(grid, ((cells + 1) * cell_h, (cells + 1) * cell_w))
        dy, dx = rng.integers(cell_h), rng.integers(cell_w)
        result[i] = big[dy : dy + height, dx : dx + width]
    return result


def method_maps(masks: int = MASKS, cells: int = CELLS, keep: float = KEEP, seed: int = SEED):
    """`raw_maps` with other settings, for a `Method` of one's own:
    `camlens.methods.register(Method("drise-200", "D-RISE", raw_maps=method_maps(200),
    gradients=False, uses_layer=False))`."""
    return partial(raw_maps, masks=masks, cells=cells, keep=keep, seed=seed)


def similarities(
    boxes: np.ndarray, probabilities: np.ndarray, target_boxes: np.ndarray, target_classes
) -> np.ndarray:
    """(M, K) the best similarity of each masked image's predictions to each target.

    Args:
        boxes: (M, R, 4) yxyx, the predictions of M masked images.
        probabilities: (M, R, classes) their class probabilities.
        target_boxes: (K, 4) the target detections' boxes.
        target_classes: (K,) their classes.
    """
    norms = np.linalg.norm(probabilities, axis=-1) + 1e-12
    objectness = probabilities.max(axis=-1)
    result = np.zeros((len(boxes), len(target_boxes)))
    for k, (box, class_id) in enumerate(zip(target_boxes, target_classes)):
        cosine = probabilities[..., class_id] / norms  # P_t one-hot
        result[:, k] = np.max(iou(boxes, box) * objectness * cosine, axis=1)
    return result
