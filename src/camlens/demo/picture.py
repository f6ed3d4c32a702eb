"""The picture `camlens demo` writes: generated images, their overlays, captions."""

from __future__ import annotations

from PIL import Image

from ..api.explainer import Explainer
from ..formatters import overlay_panels
from .model import load_demo_model
from .shapes import CLASS_NAMES, make_dataset

SCALE = 3  # the 64-pixel images are enlarged for viewing
COLUMNS = 3


def demo_picture(count: int = 6, seed: int = 2024, method: str = "gradcam") -> Image.Image:
    """Explain `count` generated images with the demo model; one captioned panel each.

    Each panel shows the image and, beside it, the heatmap of the predicted class
    laid over it; the caption gives the predicted class, its score and the truth.
    """
    data = make_dataset(count, seed=seed)
    model = load_demo_model()
    maps = Explainer(model, method=method)(data.images)
    pictures = [Image.fromarray(image.astype("uint8")) for image in data.images]
    enlarged = [
        p.resize((p.width * SCALE, p.height * SCALE), Image.Resampling.NEAREST) for p in pictures
    ]
    captions = [
        [
            f"predicted {CLASS_NAMES[int(maps.targets[n, 0])]} {maps.scores[n, 0]:.3f}",
            f"true {CLASS_NAMES[int(data.labels[n])]}",
        ]
        for n in range(count)
    ]
    return overlay_panels(enlarged, maps.heatmaps[:, 0], captions, columns=COLUMNS)
