"""Faithfulness checks: does the model's output follow the heatmap?

- Deletion and insertion curves (Petsiuk et al. 2018, RISE): pixels are removed
  from the image (deletion) or put onto a baseline (insertion) in order of
  heatmap importance; a faithful map makes the class score fall fast under
  deletion (low AUC) and rise fast under insertion (high AUC).
- Average drop and increase in confidence (Chattopadhay et al. 2018): the image
  multiplied by its (upsampled) map should keep the score.

Every curve step is one image in a batched forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import check_positive_int
from ..resize import upsample

BASELINES = ("blur", "zeros", "mean")


@dataclass
class Curves:
    """Deletion or insertion curves of N images.

    Attributes:
        fractions: (S + 1,) share of pixels removed or inserted at each step.
        scores: (N, S + 1) the target's score at each step.
        auc: (N,) area under each curve (fractions on [0, 1]).
    """

    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray


def deletion(model, images, heatmaps, targets, baseline="blur", steps=32, batch_size=64) -> Curves:
    """Deletion curves: the most important pixels are replaced by the baseline first.

    Args:
        model: a Keras model whose output is (batch, classes).
        images: (N, H, W, C) inputs.
        heatmaps: (N, h, w) importance maps (upsampled to H x W bilinearly).
        targets: (N,) class ids whose score is followed.
        baseline: `"blur"` (a Gaussian blur of the image), `"zeros"` or `"mean"`
            (the image's mean colour).
        steps: number of steps; each removes 1/steps of the pixels.
        batch_size: images per forward pass.
    """
    return _curves(model, images, heatmaps, targets, baseline, steps, batch_size, insert=False)


def insertion(model, images, heatmaps, targets, baseline="blur", steps=32, batch_size=64) -> Curves:
    """Insertion curves: starting from the baseline, the most important pixels come back first.

    Arguments as in `deletion`.
    """
    return _curves(model, images, heatmaps, targets, baseline, steps, batch_size, insert=True)


def average_drop_increase(model, images, heatmaps, targets, batch_size=64) -> tuple[float, float]:
    """Average drop (%) and increase in confidence (%) of Chattopadhay et al.

    The explanation map E, upsampled to the image and in [0, 1], masks the image
    (X * E). With Y the score on X and O on X * E: average drop is
    mean(max(0, Y - O) / Y) * 100 (lower is better) and increase in confidence
    is the percentage of images with O > Y (higher is better).
    """
    images, heatmaps, targets = check_maps(images, heatmaps, targets)
    maps = np.clip(upsample(heatmaps, images.shape[1:3]), 0, 1)[..., None]
    original = class_scores(model, images, targets, batch_size)
    masked = class_scores(model, (images * maps).astype(np.float32), targets, batch_size)
    drop = np.maximum(0, original - masked) / np.maximum(original, 1e-12)
    return float(drop.mean() * 100), float((masked > original).mean() * 100)


def _curves(model, images, heatmaps, targets, baseline, steps, batch_size, insert) -> Curves:
    images, heatmaps, targets = check_maps(images, heatmaps, targets)
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}. Received: baseline={baseline!r}")
    steps = check_positive_int(steps, "steps")
    count, height, width, _ = images.shape
    pixels = height * width
    fractions = np.linspace(0, 1, steps + 1)
    order = np.argsort(
        -upsample(heatmaps, (height, width)).reshape(count, pixels), axis=1, kind="stable"
    )
    scores = np.empty((count, steps + 1))
    for n in range(count):
        start, end = _baseline(images[n], baseline), images[n]
        if not insert:
            start, end = end, start
        variants = np.empty((steps + 1, height, width, images.shape[-1]), np.float32)
        for step, fraction in enumerate(fractions):
            chosen = np.zeros(pixels, bool)
            chosen[order[n, : int(round(fraction * pixels))]] = True
            chosen = chosen.reshape(height, width, 1)
            variants[step] = np.where(chosen, end, start)
        scores[n] = class_scores(model, variants, np.full(steps + 1, targets[n]), batch_size)
    auc = ((scores[:, 1:] + scores[:, :-1]) / 2 * np.diff(fractions)).sum(axis=1)
    return Curves(fractions=fractions, scores=scores, auc=auc)


def _baseline(image: np.ndarray, kind: str) -> np.ndarray:
    if kind == "zeros":
        return np.zeros_like(image)
    if kind == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1)), image.shape).astype(image.dtype)
    return gaussian_blur(image, sigma=max(image.shape[:2]) / 16)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W, C) image blurred with a Gaussian of `sigma` pixels, edges reflected."""
    radius = max(1, int(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    blurred = image.astype(np.float64)
    for axis in (0, 1):
        padded = np.pad(
            blurred, [(radius, radius) if a == axis else (0, 0) for a in range(3)], mode="reflect"
        )
        blurred = sum(
            weight * np.take(padded, np.arange(i, i + image.shape[axis]), axis=axis)
            for i, weight in enumerate(kernel)
        )
    return blurred.astype(image.dtype)


def class_scores(model, images: np.ndarray, targets: np.ndarray, batch_size: int) -> np.ndarray:
    """(N,) the model's output for each image's target class, `batch_size` images a pass."""
    batch_size = check_positive_int(batch_size, "batch_size")
    outputs = np.concatenate(
        [
            np.asarray(model.predict_on_batch(images[start : start + batch_size]))
            for start in range(0, len(images), batch_size)
        ]
    )
    return outputs[np.arange(len(targets)), targets].astype(np.float64)


def check_maps(images, heatmaps, targets):
    """`(images (N, H, W, C) float32, heatmaps (N, h, w) float64, targets (N,))`, checked."""
    images = np.asarray(images, np.float32)
    heatmaps = np.asarray(heatmaps, np.float64)
    targets = np.asarray(targets)
    if images.ndim != 4 or heatmaps.ndim != 3 or targets.ndim != 1:
        raise ValueError(
            "images must be (N, H, W, C), heatmaps (N, h, w) and targets (N,). Received: "
            f"images.shape={images.shape}, heatmaps.shape={heatmaps.shape}, "
            f"targets.shape={targets.shape}"
        )
    if not len(images) == len(heatmaps) == len(targets):
        raise ValueError(
            "images, heatmaps and targets must have the same N. Received: "
            f"{len(images)}, {len(heatmaps)}, {len(targets)}"
        )
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"targets must be class ids. Received: targets.dtype={targets.dtype}")
    return images, heatmaps, targets
