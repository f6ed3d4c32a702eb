"""The picture `camlens demo --imagenet` writes: real photos, Grad-CAM, class names."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..api.explainer import Explainer
from ..formatters import overlay_panels
from .efficientnet_lite import efficientnet_lite0
from .labels import imagenet_labels
from .photos import photo_to_input, sample_photos

PANEL_SIZE = (336, 224)  # both sample photos are 3:2
TOP = 3


def imagenet_demo_picture(model=None, method: str = "gradcam") -> Image.Image:
    """Explain scikit-image's sample photos with EfficientNet-Lite0; one row per photo.

    Each row shows the photo and, beside it, the heatmap of the top class laid
    over it; the caption gives the top classes with their probabilities and
    the photo's attribution.

    Args:
        model: an ImageNet classifier taking (N, 224, 224, 3) images 0..255;
            `efficientnet_lite0()` when `None`.
        method: the method's name, as in `camlens.Explainer`.

    Returns:
        An RGB PIL image.
    """
    model = efficientnet_lite0() if model is None else model
    photos = sample_photos()
    images = np.concatenate([photo_to_input(photo.image) for photo in photos])
    maps = Explainer(model, method=method)(images)
    names = imagenet_labels()
    shown = [photo.image.resize(PANEL_SIZE, Image.Resampling.BICUBIC) for photo in photos]
    captions = []
    for n, photo in enumerate(photos):
        outputs = np.asarray(maps.outputs[n])
        best = np.argsort(-outputs)[:TOP]
        captions.append(
            [
                f"{names[int(maps.targets[n, 0])]} {maps.scores[n, 0]:.3f}",
                "then " + ", ".join(f"{names[i]} {outputs[i]:.3f}" for i in best[1:]),
                photo.attribution,
            ]
        )
    return overlay_panels(shown, maps.heatmaps[:, 0], captions, columns=1)
