"""The numbers each record carries about its map.

Always: sparseness and complexity (free: the map alone), and, for images with a
mask or box, the pointing game and the energy on the object. With `metrics=`,
those that run the model again: deletion and insertion AUCs, ROAD (combined)
and max-sensitivity (`camlens.metrics`).
"""

from __future__ import annotations

import numpy as np

METRICS = ("deletion", "insertion", "road", "max_sensitivity")
"""What `audit(metrics=...)` may ask for; `metrics=True` asks for all."""

SENSITIVITY_SAMPLES = 4


def record_metrics(options, explainer, images, heatmaps, targets, masks) -> dict[str, list]:
    """Per metric, one value per image (None where it does not apply).

    Args:
        options: the `AuditOptions` (`metrics`, `steps`, `baseline`).
        explainer: the `Explainer` that made the maps (for max-sensitivity).
        images: (n, H, W, C) the model's inputs; heatmaps (n, h, w); targets (n,).
        masks: n object masks (H, W) or `None`s.
    """
    from .. import metrics

    count = len(images)
    result = {
        "sparseness": [_value(v) for v in metrics.sparseness(heatmaps)] if count else [],
        "complexity": [_value(v) for v in metrics.complexity(heatmaps)] if count else [],
    }
    located = [n for n, mask in enumerate(masks) if mask is not None]
    if located:
        where = np.array(located)
        object_masks = np.stack([masks[n] for n in located])
        hits = metrics.pointing_game(heatmaps[where], object_masks)
        energy = metrics.energy_pointing_game(heatmaps[where], object_masks)
        result["pointing_game"] = _scatter(count, where, [bool(h) for h in hits])
        result["energy"] = _scatter(count, where, [float(e) for e in energy])
    chosen = options.metrics
    if not chosen or not count:
        return result
    args = (explainer.model, images, heatmaps, targets)
    if "deletion" in chosen:
        curves = metrics.deletion(*args, options.baseline, options.steps)
        result["deletion_auc"] = [float(a) for a in curves.auc]
    if "insertion" in chosen:
        curves = metrics.insertion(*args, options.baseline, options.steps)
        result["insertion_auc"] = [float(a) for a in curves.auc]
    if "road" in chosen:
        result["road"] = [float(a) for a in metrics.road(*args).combined]
    if "max_sensitivity" in chosen:
        found = metrics.max_sensitivity(explainer, images, targets, samples=SENSITIVITY_SAMPLES)
        result["max_sensitivity"] = [_value(v) for v in found]
    return result


def _value(value) -> float | None:
    return None if value != value else float(value)


def _scatter(count: int, where: np.ndarray, values: list) -> list:
    result = [None] * count
    for n, value in zip(where, values):
        result[n] = value
    return result
