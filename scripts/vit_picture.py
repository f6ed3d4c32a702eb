"""Draws the README's ViT picture from a model saved by `train_vit_demo.py`.

Six generated demo images (the seed of `camlens demo`'s picture), each beside
the Grad-CAM map of the predicted class at camlens's automatic layer, drawn with
camlens's own panels. The raw 64x64 images go through the model's preprocessor
(`preprocess=model.preprocessor`), so the maps are drawn over the raw images.

Usage:
    PYTHONPATH=src python scripts/vit_picture.py vit_demo.keras docs/vit.png
    (the README holds it as docs/vit.jpg, the PNG saved as JPEG at quality 85)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import keras  # noqa: E402
import keras_hub  # noqa: E402, F401  (registers the keras-hub classes for loading)
from PIL import Image  # noqa: E402

from camlens import Explainer  # noqa: E402
from camlens.demo.picture import COLUMNS, SCALE  # noqa: E402
from camlens.demo.shapes import CLASS_NAMES, make_dataset  # noqa: E402
from camlens.formatters import compose_panels, image_and_overlay  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    model_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    model = keras.saving.load_model(model_path, compile=False)
    data = make_dataset(6, seed=2024)
    explainer = Explainer(model, preprocess=model.preprocessor)
    maps = explainer(data.images)
    pictures, captions = [], []
    for n in range(len(data)):
        image = Image.fromarray(data.images[n].astype("uint8"))
        big = image.resize((image.width * SCALE, image.height * SCALE), Image.NEAREST)
        pictures.append(image_and_overlay(big, maps.heatmaps[n, 0]))
        predicted = int(maps.targets[n, 0])
        captions.append(
            [
                f"predicted {CLASS_NAMES[predicted]} {maps.scores[n, 0]:.3f}",
                f"true {CLASS_NAMES[int(data.labels[n])]}",
            ]
        )
    picture = compose_panels(pictures, captions, columns=COLUMNS)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out_path, optimize=True)
    layer = getattr(explainer.layer, "name", explainer.layer)
    print(
        f"layer {layer}, grid {maps.heatmaps.shape[2:]}: wrote {out_path} "
        f"({out_path.stat().st_size / 1024:.0f} KB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
