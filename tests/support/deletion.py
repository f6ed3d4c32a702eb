"""A deletion curve's area written out in numpy, for the tests of `evaluate`'s rows."""

import numpy as np


def zero_deletion_auc(model, batch, maps, targets, steps) -> float:
    """Deletion with a zero baseline: the highest pixels of each map (at the image's
    size) zeroed first, and the trapezoid area under the target's score; the mean."""
    aucs = []
    for image, heatmap, target in zip(batch, maps, targets):
        order = np.argsort(-heatmap.ravel(), kind="stable")
        curve = []
        for step in range(steps + 1):
            kept = np.ones(heatmap.size, bool)
            kept[order[: int(round(step / steps * heatmap.size))]] = False
            masked = image * kept.reshape(heatmap.shape)[..., None]
            curve.append(float(np.asarray(model.predict_on_batch(masked[None]))[0, target]))
        aucs.append(np.trapezoid(curve, dx=1 / steps))
    return float(np.mean(aucs))
