"""Class activation map methods: numpy functions of what a probe returns.

Each method maps a `ProbeResult` (activations (N, h, w, C), gradients
(N, K, h, w, C), outputs) to maps (N, K, h, w) before normalisation;
`compute` applies the method and the shared normalisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import gradcam
from .normalize import relu_normalize


@dataclass(frozen=True)
class Method:
    """A registered method: its display name and its raw-map function."""

    name: str
    title: str
    raw_maps: Callable[..., np.ndarray]


METHODS = {
    "gradcam": Method("gradcam", "Grad-CAM", gradcam.raw_maps),
}


def get_method(name) -> Method:
    """The method registered as `name`; ValueError naming the choices otherwise."""
    if not isinstance(name, str):
        raise TypeError(
            f"method must be a string, one of {sorted(METHODS)}. "
            f"Received: method={name!r} of type {type(name).__name__}"
        )
    if name.lower() not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}. Received: method={name!r}")
    return METHODS[name.lower()]


def compute(method: Method, result) -> np.ndarray:
    """Heatmaps (N, K, h, w) in [0, 1] for a probe result."""
    return relu_normalize(method.raw_maps(result))
