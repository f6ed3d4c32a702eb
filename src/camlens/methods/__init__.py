"""Class activation map methods: numpy functions of what a probe returns.

Each method module has `raw_maps(inputs: MethodInputs) -> (N, K, h, w)`, the map
before the shared normalisation; `compute` applies the method and normalises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import eigencam, gradcam, gradcampp, hirescam, layercam, scorecam, xgradcam
from . import ablationcam, eigengradcam, fem, finercam, gradcam_elementwise, guided_gradcam
from . import kpcacam, shapleycam
from .eigensmooth import EIGEN, projected, terms_from_weights
from .inputs import MethodInputs
from .normalize import relu_normalize, signed_normalize

__all__ = ["METHODS", "Method", "MethodInputs", "compute", "get_method"]


@dataclass(frozen=True)
class Method:
    """A registered method.

    Attributes:
        name: the name users pass as `method=`.
        title: the display name (`Explanation.method`).
        raw_maps: `raw_maps(inputs) -> (N, K, h, w)` before normalisation.
        score: the score it explains by default: `"output"`, or `"logit"` (the
            score before the model's last activation) where the paper needs it.
        class_specific: False for methods whose map ignores the target.
        comparisons: how many of the most similar classes each target is
            compared with (their gradients reach the method as
            `comparison_gradients`); 0 for most methods.
        gradients: False for methods that use no gradients: the probe then
            skips the backward pass (`MethodInputs.gradients` is `None`).
        channel_passes: True for methods that run a forward pass per channel
            (and so take `max_channels`).
        channel_terms: `channel_terms(inputs) -> (N, K, h, w, C)`, the terms
            whose sum over channels is the raw map, for methods that are such
            a sum (`smooth="eigen"` projects them); `None` for the others.
    """

    name: str
    title: str
    raw_maps: Callable[[MethodInputs], np.ndarray]
    score: str = "output"
    class_specific: bool = True
    comparisons: int = 0
    gradients: bool = True
    channel_passes: bool = False
    channel_terms: Callable[[MethodInputs], np.ndarray] | None = None


METHODS = {
    method.name: method
    for method in (
        Method("gradcam", "Grad-CAM", gradcam.raw_maps,
               channel_terms=terms_from_weights(gradcam.channel_weights)),
        Method("gradcam++", "Grad-CAM++", gradcampp.raw_maps, score="logit",
               channel_terms=terms_from_weights(gradcampp.channel_weights)),
        Method("scorecam", "Score-CAM", scorecam.raw_maps, gradients=False, channel_passes=True,
               channel_terms=terms_from_weights(scorecam.channel_weights)),
        Method("layercam", "Layer-CAM", layercam.raw_maps, channel_terms=layercam.channel_terms),
        Method("xgradcam", "XGrad-CAM", xgradcam.raw_maps,
               channel_terms=terms_from_weights(xgradcam.channel_weights)),
        Method("hirescam", "HiResCAM", hirescam.raw_maps, channel_terms=hirescam.channel_terms),
        Method("eigencam", "Eigen-CAM", eigencam.raw_maps, class_specific=False, gradients=False),
        Method("eigengradcam", "Eigen-Grad-CAM", eigengradcam.raw_maps),
        Method("gradcam-elementwise", "Grad-CAM element-wise", gradcam_elementwise.raw_maps,
               channel_terms=gradcam_elementwise.channel_terms),
        Method("kpcacam", "KPCA-CAM", kpcacam.raw_maps, class_specific=False, gradients=False),
        Method("fem", "FEM", fem.raw_maps, class_specific=False, gradients=False),
        Method("finercam", "Finer-CAM", finercam.raw_maps, score="logit",
               comparisons=finercam.COMPARISONS,
               channel_terms=terms_from_weights(finercam.channel_weights)),
        Method("ablationcam", "Ablation-CAM", ablationcam.raw_maps, gradients=False,
               channel_passes=True, channel_terms=terms_from_weights(ablationcam.channel_weights)),
        Method("shapleycam", "Shapley-CAM", shapleycam.raw_maps,
               channel_terms=terms_from_weights(shapleycam.channel_weights)),
        Method("guided-gradcam", "Guided Grad-CAM", guided_gradcam.raw_maps),
    )
}


def get_method(name) -> Method:
    """The method registered as `name`; a TypeError or ValueError naming the choices."""
    if not isinstance(name, str):
        raise TypeError(
            f"method must be a string, one of {sorted(METHODS)}. "
            f"Received: method={name!r} of type {type(name).__name__}"
        )
    if name.lower() not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}. Received: method={name!r}")
    return METHODS[name.lower()]


def compute(method: Method, inputs: MethodInputs, relu: bool = True,
            smooth: str | None = None) -> np.ndarray:
    """Heatmaps (N, K, h, w): in [0, 1], or in [-1, 1] when `relu` is False.

    With `smooth="eigen"` the method's channel terms are projected on their
    first principal component instead of summed (`eigensmooth`).
    """
    raw = projected(method.channel_terms(inputs)) if smooth == EIGEN else method.raw_maps(inputs)
    return relu_normalize(raw) if relu else signed_normalize(raw)
