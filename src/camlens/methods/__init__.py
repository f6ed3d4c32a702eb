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
    """

    name: str
    title: str
    raw_maps: Callable[[MethodInputs], np.ndarray]
    score: str = "output"
    class_specific: bool = True
    comparisons: int = 0
    gradients: bool = True
    channel_passes: bool = False


METHODS = {
    method.name: method
    for method in (
        Method("gradcam", "Grad-CAM", gradcam.raw_maps),
        Method("gradcam++", "Grad-CAM++", gradcampp.raw_maps, score="logit"),
        Method(
            "scorecam", "Score-CAM", scorecam.raw_maps, gradients=False, channel_passes=True
        ),
        Method("layercam", "Layer-CAM", layercam.raw_maps),
        Method("xgradcam", "XGrad-CAM", xgradcam.raw_maps),
        Method("hirescam", "HiResCAM", hirescam.raw_maps),
        Method("eigencam", "Eigen-CAM", eigencam.raw_maps, class_specific=False, gradients=False),
        Method("eigengradcam", "Eigen-Grad-CAM", eigengradcam.raw_maps),
        Method("gradcam-elementwise", "Grad-CAM element-wise", gradcam_elementwise.raw_maps),
        Method("kpcacam", "KPCA-CAM", kpcacam.raw_maps, class_specific=False, gradients=False),
        Method("fem", "FEM", fem.raw_maps, class_specific=False, gradients=False),
        Method(
            "finercam", "Finer-CAM", finercam.raw_maps, score="logit",
            comparisons=finercam.COMPARISONS,
        ),
        Method(
            "ablationcam", "Ablation-CAM", ablationcam.raw_maps, gradients=False,
            channel_passes=True,
        ),
        Method("shapleycam", "Shapley-CAM", shapleycam.raw_maps),
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


def compute(method: Method, inputs: MethodInputs, relu: bool = True) -> np.ndarray:
    """Heatmaps (N, K, h, w): in [0, 1], or in [-1, 1] when `relu` is False."""
    raw = method.raw_maps(inputs)
    return relu_normalize(raw) if relu else signed_normalize(raw)
