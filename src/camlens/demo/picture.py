"""The picture `camlens demo` writes: generated images, their overlays, captions."""

from __future__ import annotations

from PIL import Image

from ..explainer import Explainer
from ..formatters import compose_panels, image_and_overlay
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
    pictures, captions = [], []
    for n in range(count):
        image = Image.fromarray(data.images[n].astype("uint8"))
        predicted = int(maps.targets[n, 0])
        big = image.resize((image.width * SCALE, image.height * SCALE), Image.NEAREST)
        pictures.append(image_and_overlay(big, maps.heatmaps[n, 0]))
        captions.append(
            [
                f"predicted {CLASS_NAMES[predicted]} {maps.scores[n, 0]:.3f}",
                f"true {CLASS_NAMES[int(data.labels[n])]}",
            ]
        )
    return compose_panels(pictures, captions, columns=COLUMNS)
