"""camlens: class activation maps (Grad-CAM and its family) for Keras 3 models.

The public names load on first use (PEP 562), so `import camlens` and the command
line import no Keras backend until one is needed: the CLI quiets the backend's
start-up logs before that import. Subpackages (`camlens.methods`,
`camlens.models`, ...) load the same way.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

_PUBLIC = {
    "BlankMapWarning": ".api.blank_maps",
    "DetectionHead": ".model.detectors",
    "Explainer": ".api.explainer",
    "Explanation": ".api.results",
    "Maps": ".api.results",
    "ZeroGradientWarning": ".api.blank_maps",
    "TargetExplanation": ".api.results",
    "expand_heatmap": ".formatters",
    "explain_batch": ".api.batch",
    "explain_methods": ".api.many_methods",
    "explain_prediction": ".api.prediction",
    "format_as_image": ".formatters",
    "format_targets_as_image": ".formatters",
    "gradcam": ".methods.gradcam",
    "gradcam_backend": ".api.prediction",
    "heatmap_to_image": ".formatters",
    "overlay": ".formatters",
    "show_prediction": ".api.prediction",
}
"""Public name -> the module that defines it."""

# `camlens.audit` is a function beside the `camlens.audit` package; bound here
# (the package imports no backend) so that importing one of the package's modules
# first cannot leave the name pointing at the package.
from .audit import audit  # noqa: E402

__all__ = [
    "BlankMapWarning",
    "DetectionHead",
    "Explainer",
    "Explanation",
    "Maps",
    "TargetExplanation",
    "ZeroGradientWarning",
    "audit",
    "expand_heatmap",
    "explain_batch",
    "explain_methods",
    "explain_prediction",
    "format_as_image",
    "format_targets_as_image",
    "gradcam",
    "gradcam_backend",
    "heatmap_to_image",
    "overlay",
    "show_prediction",
]
"""Written out (not derived from `_PUBLIC`) so that linters and type checkers see it."""

try:  # the installed distribution's: pyproject.toml says it, once
    __version__ = version(__name__)
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from . import targets as targets  # a subpackage, loaded on use
    from .api.batch import explain_batch
    from .api.blank_maps import BlankMapWarning, ZeroGradientWarning
    from .api.explainer import Explainer
    from .api.many_methods import explain_methods
    from .api.prediction import explain_prediction, gradcam_backend, show_prediction
    from .api.results import Explanation, Maps, TargetExplanation
    from .formatters import (
        expand_heatmap,
        format_as_image,
        format_targets_as_image,
        heatmap_to_image,
        overlay,
    )
    from .methods.gradcam import gradcam
    from .model.detectors import DetectionHead


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
