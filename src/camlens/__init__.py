"""camlens: class activation maps (Grad-CAM and its family) for Keras 3 models."""

from .audit import audit
from .batch import explain_batch
from .explain import explain_prediction, gradcam_backend, show_prediction
from .explainer import Explainer, Maps
from .explanation import Explanation, TargetExplanation
from .formatters import (
    expand_heatmap,
    format_as_image,
    format_targets_as_image,
    heatmap_to_image,
    overlay,
)
from .methods.gradcam import gradcam
from . import targets

__all__ = [
    "Explainer",
    "Explanation",
    "Maps",
    "TargetExplanation",
    "audit",
    "expand_heatmap",
    "explain_batch",
    "explain_prediction",
    "format_as_image",
    "format_targets_as_image",
    "gradcam",
    "gradcam_backend",
    "heatmap_to_image",
    "overlay",
    "show_prediction",
    "targets",
]
__version__ = "0.1.0"
