"""camlens: class activation maps (Grad-CAM and its family) for Keras 3 models."""

from .explain import explain_prediction, gradcam_backend
from .explainer import Explainer, Maps
from .explanation import Explanation, TargetExplanation
from .methods.gradcam import gradcam

__all__ = [
    "Explainer",
    "Explanation",
    "Maps",
    "TargetExplanation",
    "explain_prediction",
    "gradcam",
    "gradcam_backend",
]
__version__ = "0.1.0"
