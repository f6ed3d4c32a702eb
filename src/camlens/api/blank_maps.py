"""Blank maps are never given without a word: `ZeroGradientWarning`.

A map is blank when the explained score does not depend on the layer's
activations: the gradients there are all zero. That is said, with the causes
and the ways out, rather than drawn as an empty picture.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..probe import ProbeResult


class ZeroGradientWarning(UserWarning):
    """The explained score does not depend on the chosen layer: its maps are blank."""


def warn_if_blank(result: ProbeResult, layer, targets: int) -> None:
    """A `ZeroGradientWarning` when one of the first `targets` slots has all-zero gradients."""
    gradients = result.gradients[:, :targets]
    blank = ~np.any(gradients, axis=tuple(range(2, gradients.ndim)))
    if blank.any():
        warnings.warn(
            f"The gradients of the explained score at layer '{layer.name}' are all "
            f"zero for {int(blank.sum())} of {blank.size} (image, target) pairs, so "
            "those maps are blank: the score does not depend on this layer (with "
            "class-token pooling, a vision transformer's last block reaches no "
            "score through its patch tokens), a softmax is saturated, or a Region "
            "target covers no pixel. Choose layer=None (the automatic choice) or "
            "an earlier layer, or score='logit'.",
            ZeroGradientWarning,
            stacklevel=4,
        )
