"""Draws docs/signal.png and docs/volume.png: camlens on 1-D and 3-D inputs.

Two tiny classifiers are trained here, seeded, on the CPU, on synthetic data
where the answer is known by construction:

- signals (128 steps, 1 channel) of noise with one pulse at a random time; its
  shape decides the class: a smooth bump or a wavelet (up, then down);
- volumes (16x32x32, 1 channel) of noise with one bright object at a random
  place; its shape decides the class: a round blob or a cube; a third class,
  no object, makes both shapes positive evidence.

One held-out example of each is explained with `camlens.explain_prediction`
(at its automatic layer, `score="logit"`) and drawn with `camlens.formatters`
(the band under the signal, the montage of slices). The script checks that
the maps point at the object: on held-out examples, the map's peak must fall
on the pulse or in the object (the pointing game), and camlens's Grad-CAM of
the logit must equal the model's class activation map (CAM: the last conv
layer's channels weighted by the dense kernel, which Grad-CAM of the logit is
for a conv -> global average pooling -> dense model). The pointing game of
the softmax output's maps (camlens's default score, ELI5's) is printed beside
it: the gradient of a probability weighs the class against the others. It
exits with 1 when a check fails.

Usage:
    PYTHONPATH=src python scripts/rank_pictures.py [--out-dir docs]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import keras  # noqa: E402
from keras import layers  # noqa: E402

import camlens  # noqa: E402
from camlens.formatters import format_targets_as_image  # noqa: E402
from camlens.resize import upsample  # noqa: E402

SIGNAL_STEPS = 128
SIGNAL_CLASSES = ["bump", "wavelet"]
PULSE_WIDTH = 16  # steps the pulse takes
VOLUME_SHAPE = (16, 32, 32)
VOLUME_CLASSES = ["blob", "cube", "nothing"]
OBJECT_SIZE = 7  # the cube's side and the blob's diameter, in voxels

WEIGHTS_SEED = 7
TRAIN_DATA_SEED = 1
HELD_OUT_DATA_SEED = 2
POINTING_EXAMPLES = 64
MAX_PICTURE_KB = 150


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(WEIGHTS_SEED)
    failures = 0
    for name, make_data, build, epochs, draw in (
        ("signal", make_signals, build_signal_model, 8, draw_signal),
        ("volume", make_volumes, build_volume_model, 6, draw_volume),
    ):
        start = time.perf_counter()
        x, y, where = make_data(1200 if name == "signal" else 640, TRAIN_DATA_SEED)
        model = build()
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
        x_test, y_test, where_test = make_data(200, HELD_OUT_DATA_SEED)
        accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), -1) == y_test))
        trained = time.perf_counter() - start
        has_object = np.flatnonzero(where_test.reshape(len(x_test), -1).any(-1))
        shown = has_object[:POINTING_EXAMPLES]
        pointing, pointing_output, agreement = check_maps(model, x_test[shown], where_test[shown])
        path = args.out_dir / f"{name}.png"
        draw(model, x_test[shown[0]], int(y_test[shown[0]])).save(path, optimize=True)
        size_kb = path.stat().st_size / 1024
        print(
            f"{name}: trained in {trained:.0f} s, held-out accuracy {accuracy:.3f}, "
            f"map peak on the object {pointing:.3f} (softmax output: {pointing_output:.3f}), "
            f"Grad-CAM = CAM to {agreement:.1e}; "
            f"wrote {path} ({size_kb:.0f} KB)"
        )
        failures += accuracy < 0.9 or pointing < 0.8 or agreement > 1e-3
        failures += size_kb > MAX_PICTURE_KB
    return int(failures > 0)


# --- data ---------------------------------------------------------------------


def make_signals(count, seed):
    """Noise with one pulse whose shape is the class.

    Returns:
        signals (N, 128, 1) float32, labels (N,), and masks (N, 128): True
        on the pulse's steps.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    signals = rng.normal(0, 0.3, (count, SIGNAL_STEPS))
    masks = np.zeros((count, SIGNAL_STEPS), bool)
    phase = np.linspace(0, 1, PULSE_WIDTH)
    bump = np.exp(-((phase - 0.5) ** 2) / (2 * 0.15**2))
    wavelet = np.sin(2 * np.pi * phase) * np.hanning(PULSE_WIDTH) * 1.6
    for n, label in enumerate(labels):
        start = rng.integers(4, SIGNAL_STEPS - PULSE_WIDTH - 4)
        signals[n, start : start + PULSE_WIDTH] += 1.5 * (wavelet if label else bump)
        masks[n, start : start + PULSE_WIDTH] = True
    return signals[..., None].astype(np.float32), labels, masks


def make_volumes(count, seed):
    """Noise with one bright object whose shape is the class, or none.

    The third class, no object, makes both shapes positive evidence: with
    only two classes, a model may call the blob "not a cube" and look at
    nothing in particular for it.

    Returns:
        volumes (N, 16, 32, 32, 1) float32, labels (N,) (2: no object), and
        masks (N, 16, 32, 32): True inside the object.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(VOLUME_CLASSES), count)
    volumes = rng.normal(0, 0.15, (count, *VOLUME_SHAPE))
    masks = np.zeros((count, *VOLUME_SHAPE), bool)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in VOLUME_SHAPE], indexing="ij"), -1)
    half = OBJECT_SIZE / 2
    for n, label in enumerate(labels):
        centre = [rng.uniform(half + 1, size - half - 1) for size in VOLUME_SHAPE]
        offset = grid + 0.5 - np.asarray(centre)
        if VOLUME_CLASSES[label] == "cube":
            masks[n] = (np.abs(offset) <= half).all(-1)
        elif VOLUME_CLASSES[label] == "blob":
            masks[n] = (offset**2).sum(-1) <= half**2
        volumes[n][masks[n]] += 1.0
    return volumes[..., None].astype(np.float32), labels, masks


# --- models -------------------------------------------------------------------


def build_signal_model():
    """(128, 1) -> 2 classes; `last_conv` (32 steps) -> GAP -> dense."""
    inputs = keras.Input((SIGNAL_STEPS, 1))
    x = layers.Conv1D(16, 7, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(32, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(32, 3, padding="same", activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(2, activation="softmax", name="classes")(x)
    return _compiled(keras.Model(inputs, outputs, name="pulse_shapes"))


def build_volume_model():
    """(16, 32, 32, 1) -> 3 classes; a strided conv, `last_conv` (8x16x16) -> GAP -> dense."""
    inputs = keras.Input((*VOLUME_SHAPE, 1))
    x = layers.Conv3D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv3D(16, 3, padding="same", activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling3D()(x)
    outputs = layers.Dense(len(VOLUME_CLASSES), activation="softmax", name="classes")(x)
    return _compiled(keras.Model(inputs, outputs, name="object_shapes"))


def _compiled(model):
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# --- checks and pictures --------------------------------------------------------


def check_maps(model, x, masks):
    """The pointing game on camlens's maps, and their distance to the model's CAM.

    Returns:
        (the fraction of examples whose logit map, resized to the input,
        peaks on the object; the same for the map of the softmax output,
        camlens's default score; the largest absolute difference between
        the logit maps and the normalised CAM).
    """
    pointing = []
    for score in ("logit", "output"):
        explanations = [
            camlens.explain_prediction(model, x[n : n + 1], score=score) for n in range(len(x))
        ]
        heatmaps = np.stack([e.targets[0].heatmap for e in explanations])
        peaks = upsample(heatmaps, masks.shape[1:]).reshape(len(x), -1).argmax(-1)
        pointing.append(float(np.mean(masks.reshape(len(x), -1)[np.arange(len(x)), peaks])))
        if score == "logit":
            classes = np.array([e.targets[0].target for e in explanations])
            agreement = float(np.abs(heatmaps - class_activation_maps(model, x, classes)).max())
    return pointing[0], pointing[1], agreement


def class_activation_maps(model, x, classes):
    """CAM (Zhou et al. 2016): `last_conv`'s channels weighted by the dense kernel.

    Kept positive and divided by its maximum, as camlens normalises Grad-CAM.
    """
    features = keras.Model(model.inputs, model.get_layer("last_conv").output)
    activations = np.asarray(features.predict(x, verbose=0), np.float64)
    kernel = np.asarray(model.get_layer("classes").kernel, np.float64)  # (C, classes)
    maps = np.maximum(np.einsum("n...c,cn->n...", activations, kernel[:, classes]), 0)
    peak = maps.reshape(len(x), -1).max(-1)
    return maps / np.where(peak > 0, peak, 1).reshape((-1,) + (1,) * (maps.ndim - 1))


def draw_signal(model, signal, label):
    """The signal, its Grad-CAM band beneath, captioned with the prediction."""
    expl = camlens.explain_prediction(
        model, signal[None], target_names=SIGNAL_CLASSES, score="logit"
    )
    _print_prediction(expl, SIGNAL_CLASSES[label])
    return format_targets_as_image(expl, target_names=SIGNAL_CLASSES)


def draw_volume(model, volume, label):
    """The volume's 16 slices with the Grad-CAM map over them, captioned."""
    expl = camlens.explain_prediction(
        model, volume[None], target_names=VOLUME_CLASSES, score="logit"
    )
    _print_prediction(expl, VOLUME_CLASSES[label])
    return format_targets_as_image(expl, target_names=VOLUME_CLASSES)


def _print_prediction(expl, truth):
    target = expl.targets[0]
    print(
        f"  picture: true {truth}, predicted {expl.target_names[target.target]} "
        f"(logit {target.score:.3f}) at layer {expl.layer}, map {target.heatmap.shape}"
    )


if __name__ == "__main__":
    sys.exit(main())
