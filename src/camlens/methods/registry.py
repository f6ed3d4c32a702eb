"""The methods by name: the built-in ones, and those users register.

Most CAM methods end with a sum over channels, and differ only in what they sum:
channel weights w_k (map = sum_k w_k A^k: Grad-CAM, Grad-CAM++, Score-CAM, ...)
or element-wise terms (map = sum_k T^k: Layer-CAM, HiResCAM, ...). A method
declares the one it has, and the registry derives its raw map and the terms
`smooth="eigen"` projects. Methods that are no such sum (Eigen-CAM, FEM, ...)
give their raw maps directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import (
    ablationcam,
    drise,
    eigencam,
    eigengradcam,
    fem,
    finercam,
    fullgrad,
    gradcam,
    gradcam_elementwise,
    gradcampp,
    guided_gradcam,
    hirescam,
    kpcacam,
    layercam,
    legrad,
    scorecam,
    segeigencam,
    shapleycam,
    xgradcam,
)
from .combine import weighted_sum, weighted_terms
from .inputs import MethodInputs
from .normalize import relu_normalize, signed_normalize
from .smoothing import EIGEN, projected


@dataclass(frozen=True)
class Method:
    """A method, and what the explainer must compute for it.

    Give exactly one of `channel_weights`, `channel_terms` and `raw_maps`.

    Attributes:
        name: the name users pass as `method=`.
        title: the display name (`Explanation.method`).
        channel_weights: `channel_weights(inputs) -> (N, K, C)`, for a method
            whose map is sum_k w_k A^k.
        channel_terms: `channel_terms(inputs) -> (N, K, *spatial, C)`, for a
            method whose map is the sum of these terms over channels.
        raw_maps: `raw_maps(inputs) -> (N, K, *spatial)`, for any other method.
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
        uses_layer: False for methods whose maps come from the input alone, at
            its size (D-RISE): the layer's activations are not read.
        detections_only: True for methods that explain only a detector's
            detections (D-RISE), left out of `class_methods()`.
        attention_only: True for methods that read a vision transformer's
            attention blocks (LeGrad), left out of `class_methods()`.
        input_gradients: True for methods that differentiate with respect to
            the model's input (Guided Grad-CAM, FullGrad): models with one
            input only.
        signed: False for class-specific methods whose map takes magnitudes
            (FullGrad), so has no counterfactual.
    """

    name: str
    title: str
    channel_weights: Callable[[MethodInputs], np.ndarray] | None = None
    channel_terms: Callable[[MethodInputs], np.ndarray] | None = None
    raw_maps: Callable[[MethodInputs], np.ndarray] | None = None
    score: str = "output"
    class_specific: bool = True
    comparisons: int = 0
    gradients: bool = True
    channel_passes: bool = False
    uses_layer: bool = True
    detections_only: bool = False
    attention_only: bool = False
    input_gradients: bool = False
    signed: bool = True

    def __post_init__(self):
        _check_method(self)

    @property
    def sums_channels(self) -> bool:
        """Whether the map is a sum over channels (what `smooth="eigen"` needs)."""
        return self.raw_maps is None

    def maps(self, inputs: MethodInputs) -> np.ndarray:
        """The raw maps (N, K, *spatial), before normalisation."""
        if self.channel_weights is not None:
            return weighted_sum(inputs.activations, self.channel_weights(inputs))
        if self.channel_terms is not None:
            return self.channel_terms(inputs).sum(axis=-1)
        assert self.raw_maps is not None, "a method has weights, terms or maps"
        return self.raw_maps(inputs)

    def terms(self, inputs: MethodInputs) -> np.ndarray:
        """The terms (N, K, *spatial, C) the map sums over channels."""
        if self.channel_weights is not None:
            return weighted_terms(inputs.activations, self.channel_weights(inputs))
        assert self.channel_terms is not None, "terms are asked of methods that sum channels"
        return self.channel_terms(inputs)


def _check_method(method: Method) -> None:
    if not isinstance(method.name, str) or not method.name or method.name != method.name.lower():
        raise ValueError(
            f"a method's name must be a non-empty lower-case string. Received: name={method.name!r}"
        )
    functions = {
        "channel_weights": method.channel_weights,
        "channel_terms": method.channel_terms,
        "raw_maps": method.raw_maps,
    }
    given = [name for name, function in functions.items() if function is not None]
    if len(given) != 1:
        raise ValueError(
            "a method needs exactly one of channel_weights, channel_terms and raw_maps. "
            f"Received: {given or 'none'} for method {method.name!r}"
        )
    if not callable(functions[given[0]]):
        raise TypeError(f"{given[0]} must be callable. Received: {functions[given[0]]!r}")


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("gradcam", "Grad-CAM", gradcam.channel_weights),
        Method("gradcam++", "Grad-CAM++", gradcampp.channel_weights, score="logit"),
        Method(
            "scorecam", "Score-CAM", scorecam.channel_weights, gradients=False, channel_passes=True
        ),
        Method("layercam", "Layer-CAM", channel_terms=layercam.channel_terms),
        Method("xgradcam", "XGrad-CAM", xgradcam.channel_weights),
        Method("hirescam", "HiResCAM", channel_terms=hirescam.channel_terms),
        Method(
            "eigencam",
            "Eigen-CAM",
            raw_maps=eigencam.raw_maps,
            class_specific=False,
            gradients=False,
        ),
        Method("eigengradcam", "Eigen-Grad-CAM", raw_maps=eigengradcam.raw_maps),
        Method(
            "gradcam-elementwise",
            "Grad-CAM element-wise",
            channel_terms=gradcam_elementwise.channel_terms,
        ),
        Method(
            "kpcacam", "KPCA-CAM", raw_maps=kpcacam.raw_maps, class_specific=False, gradients=False
        ),
        Method("fem", "FEM", raw_maps=fem.raw_maps, class_specific=False, gradients=False),
        Method(
            "finercam",
            "Finer-CAM",
            finercam.channel_weights,
            score="logit",
            comparisons=finercam.COMPARISONS,
        ),
        Method(
            "ablationcam",
            "Ablation-CAM",
            ablationcam.channel_weights,
            gradients=False,
            channel_passes=True,
        ),
        Method("shapleycam", "Shapley-CAM", shapleycam.channel_weights),
        Method(
            "guided-gradcam",
            "Guided Grad-CAM",
            raw_maps=guided_gradcam.raw_maps,
            input_gradients=True,
        ),
        Method(
            "drise",
            "D-RISE",
            raw_maps=drise.raw_maps,
            gradients=False,
            uses_layer=False,
            detections_only=True,
        ),
        Method("segeigencam", "Seg-Eigen-CAM", raw_maps=segeigencam.raw_maps),
        Method("legrad", "LeGrad", raw_maps=legrad.raw_maps, attention_only=True),
        Method(
            "fullgrad", "FullGrad", raw_maps=fullgrad.raw_maps, input_gradients=True, signed=False
        ),
    )
}
"""Every method by name: the built-in ones, then those registered."""


def class_methods() -> list[str]:
    """The names of the methods that explain any model's classes (every method
    but the detection-only and the transformer-only ones): what "all methods" means."""
    return [
        name
        for name, method in METHODS.items()
        if not (method.detections_only or method.attention_only)
    ]


BUILT_IN = frozenset(METHODS)
"""The names of camlens's own methods."""


def register(
    method,
    channel_weights=None,
    *,
    title: str | None = None,
    channel_terms=None,
    raw_maps=None,
    score: str = "output",
    class_specific: bool = True,
    gradients: bool = True,
    replace: bool = False,
) -> Method:
    """Register a method of your own, usable by name wherever camlens takes one.

    `Explainer(method=...)`, `explain_methods`, `camlens explain --method`,
    `camlens evaluate --methods` and the audit all look methods up here.

    Args:
        method: the name to register (lower case is how it is looked up), or a
            `Method` (the other arguments are then not given).
        channel_weights: `channel_weights(inputs) -> (N, K, C)`: the map is
            sum_k w_k A^k, as for Grad-CAM. `inputs` is a `MethodInputs`:
            `inputs.activations` (N, *spatial, C), `inputs.gradients`
            (N, K, *spatial, C), ...
        title: the display name; the name by default.
        channel_terms: instead, `channel_terms(inputs) -> (N, K, *spatial, C)`:
            the map is their sum over channels.
        raw_maps: instead, `raw_maps(inputs) -> (N, K, *spatial)`: the map
            itself (then `smooth="eigen"` does not apply).
        score: the score explained by default, `"output"` or `"logit"`.
        class_specific: False if the map does not depend on the target.
        gradients: False if the method reads no gradients (the backward pass is
            then skipped).
        replace: allow replacing a method registered under the same name
            (never a built-in one).

    Returns:
        The registered `Method`.

    Example:
        >>> def gradient_max(inputs):      # (N, K, C): the largest gradient per channel
        ...     return inputs.gradients.max(axis=tuple(range(2, inputs.gradients.ndim - 1)))
        >>> camlens.methods.register("gradient-max", gradient_max)
        >>> camlens.Explainer(model, method="gradient-max")(images)
    """
    if isinstance(method, Method):
        given = (channel_weights, title, channel_terms, raw_maps)
        if any(value is not None for value in given):
            raise TypeError(
                "register(method) takes either a Method or a name with its functions, "
                f"not both. Received: method={method!r} and functions"
            )
    elif isinstance(method, str):
        method = Method(
            method.lower(),
            title or method,
            channel_weights,
            channel_terms,
            raw_maps,
            score=score,
            class_specific=class_specific,
            gradients=gradients,
        )
    else:
        raise TypeError(
            "method must be a name (str) or a camlens.methods.Method. "
            f"Received: method of type {type(method).__name__}"
        )
    if method.name in BUILT_IN:
        raise ValueError(
            f"{method.name!r} is a built-in method and cannot be replaced. "
            f"Received: method={method.name!r}"
        )
    if method.name in METHODS and not replace:
        raise ValueError(
            f"a method named {method.name!r} is registered already; pass "
            f"replace=True to replace it. Received: method={method.name!r}"
        )
    METHODS[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method registered with `register` (never a built-in one)."""
    if name in BUILT_IN or name not in METHODS:
        raise ValueError(f"{name!r} is not a registered method of yours. Received: name={name!r}")
    del METHODS[name]


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


def compute(
    method: Method, inputs: MethodInputs, relu: bool = True, smooth: str | None = None
) -> np.ndarray:
    """Heatmaps (N, K, *spatial): in [0, 1], or in [-1, 1] when `relu` is False.

    With `smooth="eigen"` the method's channel terms are projected on their
    first principal components instead of summed (`smoothing.projected`).
    """
    return normalized(raw(method, inputs, smooth), relu)


def raw(method: Method, inputs: MethodInputs, smooth: str | None = None) -> np.ndarray:
    """The maps (N, K, *spatial) before normalisation (`compute` without its last step)."""
    return projected(method.terms(inputs)) if smooth == EIGEN else method.maps(inputs)


def normalized(maps: np.ndarray, relu: bool = True) -> np.ndarray:
    """Raw maps normalised as every method's are: ReLU and maximum, or largest magnitude."""
    return relu_normalize(maps) if relu else signed_normalize(maps)
