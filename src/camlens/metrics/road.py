"""ROAD: remove and debias (Rong et al., ICML 2022, "A Consistent and Efficient
Evaluation Strategy for Attribution Methods").

Removing pixels by a constant (grey, blur) leaks the shape of the removed region
to the model: the score drop then measures the mask, not the map. ROAD fills the
removed pixels by *noisy linear imputation*: each removed pixel is the weighted
mean of its 8 neighbours (weights 1/6 for the 4 sides, 1/12 for the 4 corners,
renormalised at the border), all removed pixels solved together as one sparse
linear system, plus a little Gaussian noise. Pixels are removed in the map's
order, most relevant first (MoRF: a faithful map makes the score fall) or least
relevant first (LeRF: it should hold); the combined score is the mean over the
removed fractions of (LeRF - MoRF) / 2, higher for a more faithful map, as in
pytorch-grad-cam's `ROADCombined`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..resize import upsample
from .faithfulness import check_maps, class_scores

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Shares of the pixels removed, as pytorch-grad-cam's percentiles 10 ... 90."""

# (row offset, column offset) -> weight of the neighbour in the imputed value.
NEIGHBOURS = {
    (-1, -1): 1 / 12,
    (-1, 0): 1 / 6,
    (-1, 1): 1 / 12,
    (0, -1): 1 / 6,
    (0, 1): 1 / 6,
    (1, -1): 1 / 12,
    (1, 0): 1 / 6,
    (1, 1): 1 / 12,
}


@dataclass
class RoadScores:
    """ROAD for N images.

    Attributes:
        fractions: (P,) share of the pixels removed at each step.
        most_relevant_first: (N, P) the target's score after removing the most
            relevant pixels, minus its score on the image (lower: more faithful).
        least_relevant_first: (N, P) the same, least relevant first (higher: more
            faithful).
    """

    fractions: np.ndarray
    most_relevant_first: np.ndarray
    least_relevant_first: np.ndarray

    @property
    def combined(self) -> np.ndarray:
        """(N,) the mean over fractions of (LeRF - MoRF) / 2: higher is more faithful."""
        return ((self.least_relevant_first - self.most_relevant_first) / 2).mean(axis=1)


def road(
    model,
    images,
    heatmaps,
    targets,
    fractions=FRACTIONS,
    noise: float = 0.01,
    seed: int = 0,
    batch_size: int = 64,
) -> RoadScores:
    """ROAD scores: the target's score after noisy linear imputation of the most
    and of the least relevant pixels.

    At fraction f the removed pixels are those whose map value is at or above the
    (1 - f) quantile of the map (most relevant first), or at or below the f
    quantile (least relevant first), with the quantiles of `np.percentile`, as
    pytorch-grad-cam's `RemoveMostRelevantFirst` and `RemoveLeastRelevantFirst`.

    Args:
        model: a Keras model whose output is (batch, classes).
        images: (N, H, W, C) inputs.
        heatmaps: (N, h, w) maps (upsampled to H x W bilinearly).
        targets: (N,) class ids whose score is followed.
        fractions: shares of the pixels removed, each in (0, 1).
        noise: standard deviation of the noise added to imputed pixels, as a share
            of the image's value range (max - min): pytorch-grad-cam's absolute
            0.01 on images scaled to [0, 1], and the same on images of 0..255.
        seed: of the noise.
        batch_size: images per forward pass.
    """
    images, heatmaps, targets = check_maps(images, heatmaps, targets)
    fractions = np.asarray(fractions, np.float64)
    if fractions.ndim != 1 or not np.all((fractions > 0) & (fractions < 1)):
        raise ValueError(f"fractions must be shares in (0, 1). Received: fractions={fractions}")
    if not noise >= 0:
        raise ValueError(f"noise must be at least 0. Received: noise={noise}")
    rng = np.random.default_rng(seed)
    count, height, width, _ = images.shape
    maps = upsample(heatmaps, (height, width))
    original = class_scores(model, images, targets, batch_size)
    changes = {}
    for most in (True, False):
        variants = np.empty((count, len(fractions), *images.shape[1:]), np.float32)
        for n in range(count):
            scale = noise * float(images[n].max() - images[n].min())
            for p, fraction in enumerate(fractions):
                missing = removed_pixels(maps[n], fraction, most)
                variants[n, p] = impute(images[n], missing, scale, rng)
        scores = class_scores(
            model,
            variants.reshape(-1, *images.shape[1:]),
            np.repeat(targets, len(fractions)),
            batch_size,
        )
        changes[most] = scores.reshape(count, len(fractions)) - original[:, None]
    return RoadScores(fractions, changes[True], changes[False])


def removed_pixels(heatmap: np.ndarray, fraction: float, most_relevant: bool) -> np.ndarray:
    """(H, W) bool: the pixels removed at `fraction`, most or least relevant first."""
    values = heatmap if most_relevant else 1 - heatmap
    return values >= np.percentile(values, 100 * (1 - fraction))


def impute(image: np.ndarray, missing: np.ndarray, noise: float = 0.0, rng=None) -> np.ndarray:
    """`image` (H, W, C) with the `missing` (H, W) pixels replaced by noisy linear
    imputation: each the weighted mean of its neighbours inside the image
    (`NEIGHBOURS`, weights renormalised at the border), solved jointly; plus
    Gaussian noise of standard deviation `noise` (with `rng`)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    height, width, channels = image.shape
    result = image.astype(np.float64).copy()
    rows, columns = np.nonzero(missing)
    if not len(rows):
        return result.astype(image.dtype)
    unknown = np.full((height, width), -1)
    unknown[rows, columns] = np.arange(len(rows))
    total = np.zeros(len(rows))  # the weights of the neighbours inside the image
    right = np.zeros((len(rows), channels))
    entries_row, entries_column, entries_value = [], [], []
    for (dy, dx), weight in NEIGHBOURS.items():
        y, x = rows + dy, columns + dx
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        total[inside] += weight
        equation = np.flatnonzero(inside)
        other = unknown[y[inside], x[inside]]
        known = other < 0
        right[equation[known]] -= weight * result[y[inside][known], x[inside][known]]
        entries_row.append(equation[~known])
        entries_column.append(other[~known])
        entries_value.append(np.full(int((~known).sum()), weight))
    diagonal = np.arange(len(rows))
    system = coo_matrix(
        (
            np.concatenate([*entries_value, -total]),
            (np.concatenate([*entries_row, diagonal]), np.concatenate([*entries_column, diagonal])),
        ),
        shape=(len(rows), len(rows)),
    ).tocsc()
    solved = spsolve(system, right).reshape(len(rows), channels)
    if noise > 0:
        solved = solved + noise * rng.standard_normal(solved.shape)
    result[rows, columns] = solved
    return result.astype(image.dtype)
