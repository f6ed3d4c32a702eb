"""Targets whose data the model itself computes, resolved before planning.

A `Prompt` of an image–text backbone needs its text embedding (the text tower
run once per prompt, `camlens.api.prompts`). What comes out is a batch and
targets that `camlens.api.planning` plans like any other; resolving twice
changes nothing, so every entry point of `Explainer` may call it.
"""

from __future__ import annotations

from ..model.slots import ModelInputs


def with_target_data(explainer, batch: ModelInputs, targets):
    """`(batch, targets)` with what the targets need from the model filled in.

    Args:
        explainer: the `Explainer` (its `towers`).
        batch: the prepared input.
        targets: as the user passed them.
    """
    if explainer.towers is not None:
        batch, targets = explainer.towers.prompted(batch, targets)
    return batch, targets
