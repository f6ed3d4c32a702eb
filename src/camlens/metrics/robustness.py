"""Max-sensitivity (Yeh et al. 2019, "On the (in)fidelity and sensitivity of
explanations"): how much a map changes when the image changes imperceptibly.

For each image x, `samples` perturbations x + d with d uniform in the L-inf ball
of radius r (a share of the image's value range, max - min) are explained for the
same target; the score is the largest ||map(x + d) - map(x)|| / ||map(x)||
(Frobenius norms, on the maps as the explainer gives them). Lower is more robust.
Yeh et al. leave the difference unnormalised; camlens divides by the map's norm,
as Quantus's `MaxSensitivity` does by default, so that scores compare across maps.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_positive_int


def max_sensitivity(
    explainer, images, targets, radius: float = 0.02, samples: int = 8, seed: int = 0
) -> np.ndarray:
    """(N,) each image's max-sensitivity.

    Args:
        explainer: a `camlens.Explainer` (its model, method and layer).
        images: (N, H, W, C) inputs, as the explainer takes them.
        targets: (N,) class ids, each image's map is of its own.
        radius: the perturbation's largest magnitude, as a share of each image's
            value range.
        samples: perturbations per image.
        seed: of the perturbations.

    Returns:
        (N,) float64; NaN for an image whose map is zero everywhere.
    """
    images = np.asarray(images, np.float32)
    targets = np.asarray(targets)
    if targets.shape != (len(images),) or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(
            f"targets must be ({len(images)},) class ids. Received: targets with shape "
            f"{targets.shape} and dtype {targets.dtype}"
        )
    if not radius > 0:
        raise ValueError(f"radius must be positive. Received: radius={radius}")
    samples = check_positive_int(samples, "samples")
    rng = np.random.default_rng(seed)
    axes = tuple(range(1, images.ndim))
    ranges = (images.max(axis=axes) - images.min(axis=axes)).reshape(-1, *[1] * (images.ndim - 1))
    reference = explainer(images, targets).heatmaps[:, 0]
    norms = np.linalg.norm(reference.reshape(len(images), -1), axis=1)
    worst = np.zeros(len(images))
    for _ in range(samples):
        noise = rng.uniform(-1, 1, images.shape) * radius * ranges
        moved = explainer((images + noise).astype(np.float32), targets).heatmaps[:, 0]
        change = np.linalg.norm((moved - reference).reshape(len(images), -1), axis=1)
        worst = np.maximum(worst, change)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, worst / norms, np.nan)
