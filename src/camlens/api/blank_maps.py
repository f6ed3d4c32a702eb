"""Blank maps are never given without a word: `BlankMapWarning` and its causes.

A map is blank when nothing of it survives the normalisation: its largest value
(its largest magnitude with `relu=False`) is below the floor added to the
divisor (`normalize.EPSILON`, ELI5's), so the picture is empty. That is said,
with the cause and the way out, rather than drawn as an empty picture. The
causes are told apart from the arrays the map was computed from, in this order:

- the layer's activations are all zero for the image (a dead layer);
- the score's gradients at the layer are all zero (`ZeroGradientWarning`): the
  score does not depend on the layer (a ViT's last block under class-token
  pooling), a saturated softmax, a `Similarity` at its peak (an image against
  its own embedding), a `Region` that covers no pixel;
- with `relu=True`, the map has evidence, but all of it negative: the ReLU
  removes it;
- otherwise the map is faint: its values are real but below the floor
  (vanishing gradients or activations).

Gradients that are all zero are said even where the method's map is not blank
(a gradient-free method at a layer the automatic choice fell back to): the map
then does not explain the score.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import numpy as np

from ..methods import Method, MethodInputs
from ..methods.fusion import PRODUCT
from ..methods.normalize import EPSILON
from ..methods.registry import raw
from ..methods.smoothing import EIGEN


class BlankMapWarning(UserWarning):
    """Some maps are blank (all zero, or too faint to draw); the message says why."""


class ZeroGradientWarning(BlankMapWarning):
    """The explained score does not depend on the chosen layer: its maps are blank."""


def is_blank(heatmaps: np.ndarray) -> np.ndarray:
    """(N, K) whether each normalised map is blank: its largest magnitude under 0.5,
    which normalisation gives exactly when the raw map's is under `EPSILON`."""
    return np.abs(heatmaps).max(axis=tuple(range(2, heatmaps.ndim))) < 0.5


def warn_if_combined_blank(
    heatmaps: np.ndarray, inputs: MethodInputs, method: Method, layer, relu: bool
) -> None:
    """`warn_if_blank` for maps combined from the image's own and others
    (`smooth="aug"`): of the pairs blank in the end, said from the image's own maps."""
    blank = is_blank(heatmaps)
    if blank.any():
        warn_if_blank(raw(method, inputs), inputs, method, layer, relu, None, blank)


def warn_if_product_blank(combine: str, layer_maps: list, heatmaps: np.ndarray, parts) -> None:
    """A warning for maps that `combine="product"` left blank although no layer's
    map (`layer_maps`, of the explainers `parts`, one per layer) is: the layers
    point at places that do not overlap."""
    if combine != PRODUCT:
        return
    blank = is_blank(heatmaps)
    for maps in layer_maps:
        blank &= ~is_blank(maps.heatmaps)
    if blank.any():
        names = ", ".join(f"'{part.layer.name}'" for part in parts)
        warnings.warn(
            f"combine='product' (RefineCAM) left the maps of {int(blank.sum())} of "
            f"{blank.size} (image, target) pairs blank although no layer's map is: the "
            f"layers {names} point at places that do not overlap. combine='mean' shows "
            "each layer's evidence; or choose layers nearer each other.",
            BlankMapWarning,
            stacklevel=_caller_level(),
        )


def warn_if_blank(
    raw: np.ndarray,
    inputs: MethodInputs,
    method: Method,
    layer,
    relu: bool,
    smooth,
    only: np.ndarray | None = None,
) -> None:
    """A warning per cause for the (image, target) maps that are blank.

    Args:
        raw: (N, K, *spatial) the maps before normalisation.
        inputs: what they were computed from.
        method: the method that computed them.
        layer: the layer explained (for its name).
        relu, smooth: the options they were computed with.
        only: (N, K) bool, the pairs to speak of (those whose final map is
            blank, where the maps are combined further: `smooth="aug"`).
    """
    axes = tuple(range(2, raw.ndim))
    peaks = raw.max(axis=axes) if relu else np.abs(raw).max(axis=axes)
    blank = peaks < EPSILON
    zero_gradients = np.zeros_like(blank)
    if inputs.gradients is not None:
        gradients = inputs.gradients
        zero_gradients = ~np.any(gradients, axis=tuple(range(2, gradients.ndim)))
    if only is not None:
        blank, zero_gradients = blank & only, zero_gradients & only
    if not blank.any() and not zero_gradients.any():
        return
    dead = ~np.any(inputs.activations, axis=tuple(range(1, inputs.activations.ndim)))
    dead = np.broadcast_to(dead[:, None], blank.shape)
    negative = ~dead & ~zero_gradients & (np.abs(raw).max(axis=axes) >= EPSILON)
    causes = {
        "dead": dead & blank,
        "gradients": zero_gradients & ~dead,
        "negative": blank & negative,
        "faint": blank & ~dead & ~zero_gradients & ~negative,
    }
    name, pairs = f"'{layer.name}'", f"{blank.size} (image, target) pairs"
    for cause, where in causes.items():
        if where.any():
            message = _MESSAGES[cause].format(
                count=f"{int(where.sum())} of {pairs}",
                layer=name,
                method=method.name,
                peak=float(peaks[where].max()),
                floor=EPSILON,
                eigen=_EIGEN_NOTE if smooth == EIGEN else "",
            )
            category = ZeroGradientWarning if cause == "gradients" else BlankMapWarning
            warnings.warn(message, category, stacklevel=_caller_level())


_MESSAGES = {
    "dead": (
        "The activations of layer {layer} are all zero for {count}, so their maps "
        "are blank: the layer is dead for those images (every unit of a ReLU "
        "switched off). Choose an earlier layer, or layer=None (the automatic choice)."
    ),
    "gradients": (
        "The gradients of the explained score at layer {layer} are all zero for "
        "{count}: the score does not depend on this layer there, so its gradient "
        "maps are blank (with class-token pooling, a vision transformer's last "
        "block reaches no score through its patch tokens), a softmax is saturated, "
        "a Similarity is at its peak (an image compared with its own embedding: "
        "a cosine of 1 has no gradient), or a Region target covers no pixel. Choose "
        "layer=None (the automatic choice) or an earlier layer, or score='logit'."
    ),
    "negative": (
        "The {method} maps at layer {layer} are blank for {count}: all their "
        "evidence is negative (it lowers the score), and relu=True removes it.{eigen} "
        "relu=False shows it (maps in [-1, 1], negative where a region lowers the "
        "score), counterfactual=True maps what speaks against the target, or choose "
        "another layer or method."
    ),
    "faint": (
        "The {method} maps at layer {layer} are blank for {count}: their largest "
        "value, {peak:.3g}, is below the normalisation's floor {floor:g}, so the "
        "gradients or the activations there are vanishingly small: a saturated or "
        "flat score (try score='logit'; a Similarity near 1, an image compared "
        "with its own embedding, is at its peak), or activations that vanish (an "
        "untrained model, or BatchNormalization statistics never fitted). Choose a "
        "layer nearer the output, or layer=None."
    ),
}

_EIGEN_NOTE = (
    " With smooth='eigen' that is the smoothed negative evidence outweighing the "
    "positive everywhere; smooth=None gives the plain sum."
)

_PACKAGE = str(Path(__file__).resolve().parents[1])


def _caller_level() -> int:
    """The `stacklevel` of the first frame outside camlens: the user's call."""
    here = inspect.currentframe()
    frame, level = (here.f_back if here is not None else None), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
