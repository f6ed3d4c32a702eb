"""A small detector trained on the demo's shapes, its detections explained and drawn.

Usage:
    KERAS_BACKEND=jax PYTHONPATH=src python scripts/detector_demo.py [--epochs 12]
        [--out docs/detection.jpg]

The detector is CenterNet-style, the contract camlens reads without a
`DetectionHead`: four convolutions bring the 64x64 image to an 8x8 grid of
cells (`features`); each cell predicts the logits of the 5 shape classes
(`classes`, under a sigmoid) and a box (`boxes`, yxyx input pixels: the cell's
centre moved by at most one cell, a size from the exponent of its output).
The cell that holds a shape's centre is trained to its class and to its box
(L1 in image fractions), the other cells to no class (binary cross-entropy,
the positives weighted 20 times).

`camlens.demo.make_dataset` gives the shapes and their boxes: 3,000 training
images (seed 0) and 200 held-out ones (seed 1). Seeded; nothing is saved but
the picture: the script trains again when run again (40 minutes of wall time
with JAX on a shared 2-core machine under a load average of 10 to 18).
It prints the held-out detection figures and the pointing figure: how often a
detection's Grad-CAM map (at `features`, the grid the head reads) peaks inside
its own box.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

import camlens
from camlens.demo import CLASS_NAMES, make_dataset
from camlens.resize import upsample

SIZE, CELLS = 64, 8
STRIDE = SIZE // CELLS


@keras.saving.register_keras_serializable("camlens_demo")
class CellBoxes(keras.layers.Layer):
    """(N, h, w, 4) raw outputs per cell -> (N, h, w, 4) yxyx boxes in input pixels."""

    def __init__(self, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, raw):
        ops = keras.ops
        rows, columns = raw.shape[1], raw.shape[2]
        y = (ops.arange(rows, dtype="float32")[:, None] + 0.5) * self.stride
        x = (ops.arange(columns, dtype="float32")[None, :] + 0.5) * self.stride
        centre_y = y + ops.tanh(raw[..., 0]) * self.stride
        centre_x = x + ops.tanh(raw[..., 1]) * self.stride
        height = ops.exp(ops.clip(raw[..., 2], -3, 3)) * self.stride * 2
        width = ops.exp(ops.clip(raw[..., 3], -3, 3)) * self.stride * 2
        half_h, half_w = height / 2, width / 2
        return ops.stack(
            [centre_y - half_h, centre_x - half_w, centre_y + half_h, centre_x + half_w], -1
        )

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


def detector() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    for filters in (16, 32, 32):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    features = keras.layers.Conv2D(48, 3, padding="same", activation="relu", name="features")(x)
    logits = keras.layers.Conv2D(
        len(CLASS_NAMES),
        1,
        bias_initializer=keras.initializers.Constant(-3.0),
        name="class_logits",
    )(features)
    geometry = keras.layers.Conv2D(4, 1, name="box_geometry")(features)
    boxes = CellBoxes(STRIDE, name="cell_boxes")(geometry)
    return keras.Model(
        inputs,
        {
            "boxes": keras.layers.Reshape((-1, 4), name="boxes")(boxes),
            "classes": keras.layers.Reshape((-1, len(CLASS_NAMES)), name="classes")(logits),
        },
    )


def training_targets(data) -> dict:
    """`classes` (N, 64, 5): the class at the centre's cell; `boxes` (N, 64, 5):
    the box at every cell, the 5th column 1 at the centre's cell (the L1 loss's weight)."""
    count = len(data.images)
    classes = np.zeros((count, CELLS * CELLS, len(CLASS_NAMES)), np.float32)
    boxes = np.zeros((count, CELLS * CELLS, 5), np.float32)
    for n, (box, label) in enumerate(zip(data.boxes, data.labels)):
        centre_y, centre_x = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        cell = int(centre_y // STRIDE) * CELLS + int(centre_x // STRIDE)
        classes[n, cell, label] = 1.0
        boxes[n, :, :4] = box
        boxes[n, cell, 4] = 1.0
    return {"classes": classes, "boxes": boxes}


def class_loss(target, logits):
    """Binary cross-entropy of every (cell, class), the rare positives weighted 20 times."""
    bce = keras.ops.binary_crossentropy(target, logits, from_logits=True)
    return keras.ops.mean(bce * (1.0 + 19.0 * target), axis=(-2, -1))


def box_loss(target, predicted):
    weight = target[..., 4]
    error = keras.ops.sum(keras.ops.abs(target[..., :4] - predicted) / SIZE, axis=-1)
    return keras.ops.sum(weight * error, axis=-1)


def pointing(maps) -> tuple[int, int]:
    """(hits, detections): a detection's map, upsampled to the image, peaks inside its box."""
    hits = total = 0
    big = upsample(maps.heatmaps, (SIZE, SIZE))
    for n, k in zip(*np.nonzero(maps.targets >= 0)):
        row, column = np.unravel_index(np.argmax(big[n, k]), (SIZE, SIZE))
        top, left, bottom, right = maps.boxes[n, k]
        hits += bool(top <= row + 0.5 < bottom and left <= column + 0.5 < right)
        total += 1
    return hits, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", default="docs/detection.jpg")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    train, held_out = make_dataset(3000, seed=0), make_dataset(200, seed=1)
    model = detector()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss={
            "classes": class_loss,
            "boxes": box_loss,
        },
        loss_weights={"classes": 10.0, "boxes": 1.0},
    )
    start = time.perf_counter()
    model.fit(
        train.images,
        training_targets(train),
        batch_size=64,
        epochs=args.epochs,
        verbose=2,
        shuffle=True,
    )
    print(f"trained in {time.perf_counter() - start:.0f} s ({keras.backend.backend()})")

    maps = camlens.Explainer(model)(held_out.images, targets=camlens.targets.Detections(k=3))
    if maps.targets.shape[1] == 0:
        raise SystemExit("no detection on the held-out images: train longer (--epochs)")
    found = maps.targets >= 0
    first = maps.targets[:, 0]
    right = np.sum(first == held_out.labels)
    overlaps = [
        _iou(maps.boxes[n, 0], held_out.boxes[n]) for n in range(len(first)) if first[n] >= 0
    ]
    hits, total = pointing(maps)
    print(
        f"held out: {int(found[:, 0].sum())} of {len(first)} images with a detection, "
        f"{int(found.sum())} detections; top detection of the right class {right} of "
        f"{len(first)}, its IoU with the true box median {np.median(overlaps):.2f}; "
        f"pointing (map peak inside its own box): {hits} of {total} = {hits / total:.3f} "
        f"(layer {', '.join(maps.layers or [])})"
    )
    _picture(model, held_out, args.out)


def _iou(a, b) -> float:
    top, left = max(a[0], b[0]), max(a[1], b[1])
    bottom, right = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, bottom - top) * max(0.0, right - left)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _detects(model, image) -> bool:
    probabilities = 1 / (1 + np.exp(-keras.ops.convert_to_numpy(model(image[None])["classes"])))
    return bool(probabilities.max() >= 0.5)


def _picture(model, held_out, out: str) -> None:
    """The first six held-out images with a detection, each with its top
    detection's box and map, 4x enlarged."""
    from PIL import Image

    panels = []
    shown = [n for n in range(len(held_out.images)) if _detects(model, held_out.images[n])][:6]
    for n in shown:
        expl = camlens.explain_prediction(
            model,
            held_out.images[n : n + 1],
            targets=camlens.targets.Detections(k=1),
            target_names=CLASS_NAMES,
        )
        large = expl.image.resize((SIZE * 4, SIZE * 4), Image.Resampling.NEAREST)
        panels.append(
            camlens.format_targets_as_image(
                camlens.Explanation(**{**vars(expl), "image": large}), target_names=CLASS_NAMES
            )
        )
    width = sum(panel.width for panel in panels) + 4 * (len(panels) - 1)
    picture = Image.new("RGB", (width, max(panel.height for panel in panels)), "white")
    left = 0
    for panel in panels:
        picture.paste(panel, (left, 0))
        left += panel.width + 4
    picture.save(out, quality=88)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
