"""A batch as the probe runs it: how many images, what the model is called on,
and the padding to the batch size a compiled function was traced for."""

from __future__ import annotations

import keras
import numpy as np

from ..model.slots import ModelInputs
from .plan import TargetPlan


def rows(batch) -> int:
    """How many images a batch holds: an array's rows, or `ModelInputs`' images'."""
    if isinstance(batch, ModelInputs):
        return len(batch.image)
    return len(keras.tree.flatten(batch)[0])


def fed(batch):
    """What the model is called on for a batch: the array, or `ModelInputs`'
    structure of every input."""
    return batch.structure() if isinstance(batch, ModelInputs) else batch


def padded(batch, plan: TargetPlan, pad_to: int | None):
    """The batch (each of its per-image inputs) and plan repeated up to `pad_to`
    images (the last one repeated); constant inputs are kept as they are."""
    count = rows(batch)
    if pad_to is None or pad_to <= count:
        return batch, plan
    if isinstance(batch, ModelInputs):
        return batch.padded(pad_to), plan.padded(pad_to)
    index = np.minimum(np.arange(pad_to), count - 1)
    return batch[index], plan.padded(pad_to)
