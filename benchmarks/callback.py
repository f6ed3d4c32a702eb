"""What `ExplainCallback` adds to an epoch of `model.fit`.

Usage: KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/callback.py [--quick]

Trains a small CNN (64x64 RGB, three convolutions, random weights) on generated
shapes, 256 images per epoch in batches of 32, with `ExplainCallback` explaining
8 images after every epoch (PNG grid and TensorBoard summary written). Prints the
median, over the epochs after the first, of: the training part of an epoch,
the callback's `on_epoch_end`, and a warm `Explainer` call on the same 8 images
made outside `fit`; then the callback's share of the epoch and its ratio to the
bare explanation (the rest is drawing and writing the grid).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import models as bench

import keras

import camlens
from camlens.callbacks import ExplainCallback
from camlens.demo import CLASS_NAMES, IMAGE_SIZE, make_dataset


class Timed(keras.callbacks.Callback):
    """Times the training part of each epoch and `inner.on_epoch_end`, forwarding the hooks."""

    def __init__(self, inner: keras.callbacks.Callback):
        super().__init__()
        self.inner, self.train_s, self.callback_s = inner, [], []

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.inner.set_params(params)

    def on_train_begin(self, logs=None):
        self.inner.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        middle = time.perf_counter()
        self.inner.on_epoch_end(epoch, logs)
        self.train_s.append(middle - self._begin)
        self.callback_s.append(time.perf_counter() - middle)

    def on_train_end(self, logs=None):
        self.inner.on_train_end(logs)


def small_cnn() -> keras.Model:
    model = keras.Sequential([
        keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(32, 3, activation="relu", name="last_conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(len(CLASS_NAMES), activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 epochs instead of 8")
    parser.add_argument("--method", default="gradcam")
    args = parser.parse_args()
    epochs = 4 if args.quick else 8
    data = make_dataset(256, seed=3)
    probes = make_dataset(8, seed=4).images
    keras.utils.set_random_seed(0)
    model = small_cnn()

    with tempfile.TemporaryDirectory() as log_dir:
        timed = Timed(ExplainCallback(probes, method=args.method, log_dir=log_dir))
        model.fit(data.images, data.labels, epochs=epochs, batch_size=32, verbose=0,
                  callbacks=[timed])
    explainer = camlens.Explainer(model, method=args.method)
    explainer(probes)
    alone = []
    for _ in range(epochs - 1):
        begin = time.perf_counter()
        explainer(probes)
        alone.append(time.perf_counter() - begin)

    train = statistics.median(timed.train_s[1:])
    callback = statistics.median(timed.callback_s[1:])
    explain = statistics.median(alone)
    bench.header(f"ExplainCallback cost per epoch ({args.method}, 8 images, small CNN)", args.quick)
    print(bench.table(
        ["training s / epoch", "callback s / epoch", "explanation alone s", "callback / epoch",
         "callback / explanation"],
        [[f"{train:.3f}", f"{callback:.3f}", f"{explain:.3f}", f"{callback / train:.2f}",
          f"{callback / explain:.2f}"]],
    ))


if __name__ == "__main__":
    main()
