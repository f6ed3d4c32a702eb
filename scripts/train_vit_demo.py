"""Trains a small keras-hub ViT on the demo's shapes and draws its Grad-CAM maps.

The README's vision-transformer picture (`docs/vit-demo.png`) comes from here:
random weights give maps that locate nothing, so a ViT (64x64 input, patch 8,
an 8x8 grid of patch tokens behind a class token) is trained for a few epochs
on the generated shapes of `camlens.demo.shapes`, then explained with camlens's
automatic layer choice (the output of the second to last block: the last
block's patch tokens reach no score under class-token pooling). Nothing is
downloaded and no model is saved; the script prints the held-out accuracy and
the pointing game (does the map's maximum fall on the shape?).

Training is seeded; the numbers depend on the machine and library versions.

Usage:
    PYTHONPATH=src python scripts/train_vit_demo.py [--epochs N] [--output PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import camlens  # noqa: E402
from camlens.demo.shapes import CLASS_NAMES, IMAGE_SIZE, make_dataset  # noqa: E402
from camlens.formatters import compose_panels, image_and_overlay  # noqa: E402
from camlens.metrics.localization import pointing_game  # noqa: E402

SEED = 7
TRAIN_DATA_SEED = 11  # data seeds apart from the CNN demo's and the tests'
HELD_OUT_DATA_SEED = 12
PICTURE_DATA_SEED = 2024  # the images `camlens demo` shows
SCALE = 3


def build_vit() -> keras.Model:
    """A ViT for 64x64 RGB in 0..255: patch 8 (8x8 tokens), 4 blocks, width 96."""
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), patch_size=8, num_layers=4, num_heads=4,
        hidden_dim=96, mlp_dim=192,
    )
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    classifier = keras_hub.models.ViTImageClassifier(
        backbone, num_classes=len(CLASS_NAMES), activation="softmax"
    )
    outputs = classifier(keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs))
    return keras.Model(inputs, outputs, name="vit_shapes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "vit-demo.png")
    args = parser.parse_args()

    keras.utils.set_random_seed(SEED)
    train = make_dataset(args.train_size, seed=TRAIN_DATA_SEED)
    held_out = make_dataset(500, seed=HELD_OUT_DATA_SEED)
    model = build_vit()
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(train.images, train.labels, batch_size=64, epochs=args.epochs,
              validation_data=(held_out.images, held_out.labels), verbose=2)
    _, accuracy = model.evaluate(held_out.images, held_out.labels, verbose=0)

    explainer = camlens.Explainer(model)
    maps = explainer(held_out.images, targets=held_out.labels)  # each image's true class
    hits = pointing_game(maps.heatmaps[:, 0], held_out.masks, tolerance=2)
    print(f"held-out accuracy {accuracy:.3f}; pointing game {hits.mean():.3f} on "
          f"{len(held_out)} images; layer {explainer.layer.name}, grid "
          f"{maps.heatmaps.shape[2]}x{maps.heatmaps.shape[3]}")

    data = make_dataset(6, seed=PICTURE_DATA_SEED)
    shown = explainer(data.images)
    pictures, captions = [], []
    for n in range(len(data.images)):
        image = Image.fromarray(data.images[n].astype("uint8"))
        big = image.resize((image.width * SCALE, image.height * SCALE), Image.NEAREST)
        pictures.append(image_and_overlay(big, shown.heatmaps[n, 0]))
        predicted = int(shown.targets[n, 0])
        captions.append([f"predicted {CLASS_NAMES[predicted]} {shown.scores[n, 0]:.3f}",
                         f"true {CLASS_NAMES[int(data.labels[n])]}"])
    compose_panels(pictures, captions, columns=3).save(args.output, optimize=True)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
