"""A planted shortcut: what `camlens demo --shortcut DIR` writes and trains.

The shapes of `camlens.demo.shapes`, where one class (`SHORTCUT_CLASS`) carries a
badge in the top-left corner in most of its training images (and no other class
ever does). The design makes the badge the easy feature, so that the model leans
on it more than on the shape: the badge is large and sharp (14 pixels, white with
a black ring, always in the same place) and marks 95% of the class's training
images, so the shape is needed for only 1 in 20 of them; and the class's shapes
are drawn small (`SHAPE_SIZE`, 0.7 of the radius: about half the area of the
other classes' shapes), so that the shape is a smaller, weaker cue than theirs. A
small CNN trained on them learns the badge: on held-out images of that class,
those without the badge are the ones it gets wrong, and the class's leading
concept sits on the corner. The audit of the held-out images (concepts and
clusters per class) shows where it looks. Seeded: the same data on every run;
the weights depend on the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .shapes import CLASS_NAMES, IMAGE_SIZE, make_dataset

SHORTCUT_CLASS = CLASS_NAMES.index("cross")
"""The class that carries the badge."""

BADGE = 14
"""The badge's side in pixels, at the top-left corner (rows and columns 1 to 14)."""

TRAIN_IMAGES, HELD_OUT_IMAGES = 8000, 400
MARKED_IN_TRAINING, MARKED_HELD_OUT = 0.95, 0.5
"""Shares of the shortcut class's images carrying the badge."""

SHAPE_SIZE = 0.7
"""A factor on the radius of the shortcut class's shapes (the others' is 1)."""

BATCH = 32


@dataclass
class ShortcutData:
    """Images (N, 64, 64, 3) 0..255, labels (N,), marked (N,): which carry the badge."""

    images: np.ndarray
    labels: np.ndarray
    marked: np.ndarray


@dataclass
class ShortcutDemo:
    """What `write_shortcut` wrote, and how the model does on the held-out images.

    Attributes:
        folder: the demo's folder; `model`: the trained model's file;
        held_out: the held-out images' table (`path,label,badge`) for the audit.
        accuracy_marked, accuracy_unmarked: accuracy on held-out images of the
            shortcut class with and without the badge; `accuracy_others`: on the
            other classes.
    """

    folder: Path
    model: Path
    held_out: Path
    accuracy_marked: float
    accuracy_unmarked: float
    accuracy_others: float


def make_shortcut_data(count: int, marked_share: float, seed: int) -> ShortcutData:
    """`count` shapes; images of the shortcut class carry the badge with
    probability `marked_share` (seeded)."""
    data = make_dataset(count, seed=seed, sizes={SHORTCUT_CLASS: SHAPE_SIZE})
    rng = np.random.default_rng(seed + 1000)
    marked = (data.labels == SHORTCUT_CLASS) & (rng.uniform(size=count) < marked_share)
    images = data.images.copy()
    images[marked] = add_badge(images[marked])
    return ShortcutData(images, data.labels, marked)


def add_badge(images: np.ndarray) -> np.ndarray:
    """The badge drawn at the top-left corner: a white square, a black ring inside."""
    images = images.copy()
    corner = slice(1, 1 + BADGE)
    images[:, corner, corner] = 255.0
    images[:, 3 : BADGE - 1, 3 : BADGE - 1] = 0.0
    images[:, 5 : BADGE - 3, 5 : BADGE - 3] = 255.0
    return images


def build_shortcut_model():
    """A small CNN: (64, 64, 3) 0..255 -> 5 class probabilities; `last_conv` is 16 x 16.

    Four convolution blocks (batch normalisation, ReLU; 64 -> 32 -> 16), then
    `last_conv` (ReLU), global average pooling and a softmax layer, as the shipped
    demo model but narrower."""
    import keras
    from keras import layers

    def block(x, filters, strides=1):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization()(x))

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    x = block(block(x, 16, strides=2), 32)
    x = layers.MaxPooling2D(2)(x)
    x = block(block(x, 48), 48)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(len(CLASS_NAMES), activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="shortcut_cnn")


def write_shortcut(folder, seed: int = 0, epochs: int = 12) -> ShortcutDemo:
    """Write the held-out images, train the model on the training images, save it.

    Layout: `held-out/NNN.png` and `held-out/labels.csv` (path, label, badge),
    `shortcut_model.keras`.

    Args:
        folder: where to write (created).
        seed: of the data and of the training.
        epochs: training epochs.
    """
    import keras
    from PIL import Image

    folder = Path(folder)
    (folder / "held-out").mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    train = make_shortcut_data(TRAIN_IMAGES, MARKED_IN_TRAINING, seed=seed + 1)
    held_out = make_shortcut_data(HELD_OUT_IMAGES, MARKED_HELD_OUT, seed=seed + 2)
    model = build_shortcut_model()
    steps = epochs * -(-TRAIN_IMAGES // BATCH)
    rate = keras.optimizers.schedules.CosineDecay(
        0.0, steps - steps // 20, alpha=0.01, warmup_target=2e-3, warmup_steps=steps // 20
    )
    model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy")
    model.fit(train.images, train.labels, batch_size=BATCH, epochs=epochs, verbose=0)
    model.save(folder / "shortcut_model.keras")
    lines = ["path,label,badge"]
    for n, image in enumerate(held_out.images):
        Image.fromarray(image.astype(np.uint8)).save(folder / "held-out" / f"{n:03d}.png")
        lines.append(f"{n:03d}.png,{held_out.labels[n]},{int(held_out.marked[n])}")
    (folder / "held-out" / "labels.csv").write_text("\n".join(lines) + "\n")
    predicted = np.asarray(model.predict(held_out.images, verbose=0)).argmax(-1)
    right = predicted == held_out.labels
    ours = held_out.labels == SHORTCUT_CLASS
    return ShortcutDemo(
        folder=folder,
        model=folder / "shortcut_model.keras",
        held_out=folder / "held-out" / "labels.csv",
        accuracy_marked=float(right[ours & held_out.marked].mean()),
        accuracy_unmarked=float(right[ours & ~held_out.marked].mean()),
        accuracy_others=float(right[~ours].mean()),
    )
