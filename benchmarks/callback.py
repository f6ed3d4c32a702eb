"""What `ExplainCallback` adds to an epoch of `model.fit`.

Usage: KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/callback.py [--quick|--full]

A small CNN (64x64 RGB demo shapes, three convolutions, random weights) trains
on 256 images per epoch in batches of 32, with `ExplainCallback(every=2)`
explaining 8 images (PNG grid and, when `tensorboard` is installed, a
TensorBoard summary): within one fit, epochs with the callback's work (even)
and without it (odd) alternate. The first two epochs are warm-up (compilation,
the first trace of the explanation). It prints the median epoch without and
with the callback's work and their ratio, then the medians of the callback's
`on_epoch_end` and its split (the explanation, drawing the grid, encoding and
writing it) and of a warm `Explainer` call on the same images after the fit:
the issue's target is a callback costing about that call.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import keras

import camlens
import models as bench
from camlens.callbacks import ExplainCallback
from camlens.demo import CLASS_NAMES, IMAGE_SIZE, make_dataset

PROBE_IMAGES = 8
WARMUP_EPOCHS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 pairs of epochs timed")
    parser.add_argument("--full", action="store_true", help="20 pairs of epochs timed")
    parser.add_argument("--method", default="gradcam")
    args = parser.parse_args()
    pairs = 4 if args.quick else 20 if args.full else 8
    data = make_dataset(256, seed=3)
    probes = make_dataset(PROBE_IMAGES, seed=4).images
    keras.utils.set_random_seed(0)
    model = small_cnn()

    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as log_dir:
        callback = MeasuredCallback(probes, method=args.method, every=2, log_dir=log_dir)
        model.fit(
            data.images,
            data.labels,
            epochs=WARMUP_EPOCHS + 2 * pairs,
            batch_size=32,
            verbose=0,
            callbacks=[timer.start, callback, timer.stop],
        )
    explainer = camlens.Explainer(model, method=args.method)
    bare = [_seconds(lambda: explainer(probes)) for _ in range(pairs + 1)][1:]

    timed = timer.seconds[WARMUP_EPOCHS:]
    without, with_work = statistics.median(timed[0::2]), statistics.median(timed[1::2])
    median = {name: statistics.median(values[1:]) for name, values in callback.seconds.items()}
    drawing, writing = median["drawing"], median["writing"]
    explanation = median["on_epoch_end"] - drawing - writing
    explanation_alone = statistics.median(bare)
    writes = "PNG + TensorBoard" if callback.tensorboard_used else "PNG"
    bench.header(
        f"ExplainCallback per epoch ({args.method}, {PROBE_IMAGES} images 64x64, small CNN, "
        f"{pairs} pairs of epochs; writes {writes})",
        args.quick,
    )
    print(
        bench.table(
            [
                "epoch without s",
                "epoch with s",
                "with / without",
                "on_epoch_end s",
                "explanation s",
                "drawing s",
                "encoding + writing s",
                "bare Explainer call s",
                "on_epoch_end / bare call",
            ],
            [
                [
                    f"{without:.3f}",
                    f"{with_work:.3f}",
                    f"{with_work / without:.2f}",
                    f"{median['on_epoch_end']:.4f}",
                    f"{explanation:.4f}",
                    f"{drawing:.4f}",
                    f"{writing:.4f}",
                    f"{explanation_alone:.4f}",
                    f"{median['on_epoch_end'] / explanation_alone:.2f}",
                ]
            ],
        )
    )


def _seconds(call) -> float:
    begin = time.perf_counter()
    call()
    return time.perf_counter() - begin


def small_cnn() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(32, 3, activation="relu", name="last_conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(CLASS_NAMES), activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


class EpochTimer:
    """Two callbacks, `start` placed first and `stop` last: each epoch's wall time
    from the first callback's `on_epoch_begin` to the last one's `on_epoch_end`."""

    def __init__(self):
        self.seconds: list[float] = []
        timer = self

        class Start(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer._begin = time.perf_counter()

        class Stop(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                timer.seconds.append(time.perf_counter() - timer._begin)

        self.start, self.stop = Start(), Stop()


class MeasuredCallback(ExplainCallback):
    """`ExplainCallback` with the work of its `on_epoch_end`, drawing and writing timed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds = {"on_epoch_end": [], "drawing": [], "writing": []}
        self.tensorboard_used = False

    def _explain(self, epoch):
        self.tensorboard_used = self._summaries is not None
        self._timed("on_epoch_end", super()._explain, epoch)

    def _grid(self, maps, epoch):
        return self._timed("drawing", super()._grid, maps, epoch)

    def _write(self, grid, epoch):
        return self._timed("writing", super()._write, grid, epoch)

    def _timed(self, name, function, *args):
        begin = time.perf_counter()
        result = function(*args)
        self.seconds[name].append(time.perf_counter() - begin)
        return result


if __name__ == "__main__":
    main()
