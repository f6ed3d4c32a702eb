"""Several methods from one probe pass: `explain_methods`."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np

from .. import methods as registry
from ..checks import check_names
from ..methods.smoothing import AUGMENT
from .detection import detector_for, is_detection_call
from .explainer import Explainer
from .results import Maps

GRADIENT_METHODS = (
    "gradcam",
    "gradcam++",
    "layercam",
    "xgradcam",
    "hirescam",
    "eigengradcam",
    "segeigencam",
    "gradcam-elementwise",
    "finercam",
    "eigencam",
    "kpcacam",
    "fem",
)
"""The methods computed from the activations and gradients of one pass alone."""


def explain_methods(
    model: keras.Model,
    x: np.ndarray,
    methods: list[str] | tuple[str, ...] = GRADIENT_METHODS,
    targets=None,
    layer=None,
    relu: bool = True,
    counterfactual: bool = False,
    score: str | None = None,
    mask_batch_size: int = 64,
    max_channels: int | None = None,
    **options,
) -> dict[str, Maps]:
    """Maps of several methods for the same images, from one probe pass.

    The layer's activations and the target scores' gradients are computed once
    per score kind (Grad-CAM++ and Finer-CAM explain the score before the
    softmax by default, the others the output) and every method's map is
    computed from them, so comparing the gradient methods costs about one
    forward and backward pass. Methods that need more passes (`scorecam`,
    `ablationcam`, `shapleycam`, `guided-gradcam`, `fullgrad`) run theirs on top. Each map
    equals the map of `Explainer(model, layer, method)` with the same options.

    Args:
        model: a built Keras 3 model.
        x: (N, H, W, C) images.
        methods: method names (default: every method computed from one pass,
            `GRADIENT_METHODS`).
        targets, layer, relu, counterfactual, score, mask_batch_size: as in
            `Explainer`; `score=None` uses each method's own choice.
        max_channels: as in `Explainer`, for the methods that take it
            (Score-CAM, Ablation-CAM).
        **options: `token_grid`, `prefix_tokens`, `output_index`, `image_input`,
            `preprocess`, as in `Explainer`.

    Returns:
        `{method name: Maps}` in the order of `methods`.

    Example:
        >>> maps = camlens.explain_methods(model, x, methods=["gradcam", "layercam"])
        >>> maps["layercam"].heatmaps.shape     # (N, 1, h, w)
    """
    chosen = _checked_methods(methods)
    explainers = [
        Explainer(
            model,
            layer=layer,
            method=method.name,
            relu=relu,
            counterfactual=counterfactual,
            score=score,
            mask_batch_size=mask_batch_size,
            max_channels=max_channels if method.channel_passes else None,
            **options,
        )
        for method in chosen
    ]
    images = explainers[0].prepare(x, name="x")
    return {
        method.name: maps
        for method, maps in zip(chosen, explain_together(explainers, images, targets))
    }


def explain_together(explainers: list[Explainer], images: np.ndarray, targets) -> list[Maps]:
    """The maps of explainers of one model that differ only in their method.

    One probe pass per score kind: it runs for the most demanding method of the
    kind (with gradients if one needs them, with the most compared classes),
    and every method's map is computed from it. Explainers with
    `smooth="aug"` or `layers=`, and a detector's targets, run alone (each
    variant image, layer or pyramid level is a pass of its own).

    Args:
        explainers: of the same model, layer argument and options.
        images: (N, H, W, C) prepared by `explainers[0].prepare`.
        targets: as for `Explainer`.

    Returns:
        One `Maps` per explainer, in order.
    """
    maps: dict[int, Maps] = {}
    groups: dict[str, list[int]] = {}
    first = explainers[0]
    detecting = first.all_levels or is_detection_call(targets, detector_for(first, images))
    for index, explainer in enumerate(explainers):
        if explainer.smooth != AUGMENT and explainer.parts is None and not detecting:
            groups.setdefault(explainer.score, []).append(index)
        else:
            maps[index] = explainer.explain_prepared(images, targets)
    for indices in groups.values():
        group = [explainers[index] for index in indices]
        leader = max(group, key=lambda e: (e.method.gradients, e.method.comparisons))
        inputs, result, _ = leader.method_inputs(images, targets)
        for index, explainer in zip(indices, group):
            explainer.settle_layer(leader.layer, leader.output_index)
            own = replace(inputs, max_channels=explainer.max_channels)
            maps[index] = explainer.maps_of(explainer.method, own, result)
    return [maps[index] for index in range(len(explainers))]


def _checked_methods(names) -> list:
    chosen = [registry.get_method(name) for name in check_names(names, "methods", "method names")]
    if len({method.name for method in chosen}) != len(chosen):
        raise ValueError(f"methods must not repeat a method. Received: methods={names!r}")
    return chosen
