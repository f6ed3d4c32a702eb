"""Signals and volumes: warm Grad-CAM of Conv1D and Conv3D models against the compiled forward pass.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/ranks.py [--quick | --full]
        [--models conv1d,conv3d] [--budget SECONDS] [--max-channels K]

Two classifiers with seeded random weights, their BatchNorm statistics calibrated
on seeded random inputs (models.py):

- conv1d: an ECG-like 1-D CNN on (1000, 12) inputs (10 s of 12 leads at 100 Hz):
  five Conv1D-BatchNorm-ReLU blocks (64, 128, 256, 256, 512 filters, kernels 7, 5,
  5, 3, 3), max pooling by 2 after the first four, global average pooling, 5
  classes (0.8M parameters); maps (N, K, 62).
- conv3d: a CT-like 3-D CNN on (32, 64, 64, 1) volumes: five Conv3D-BatchNorm-ReLU
  blocks (16, 32, 64, 128, 256 filters, 3x3x3), max pooling by 2 after the first
  three, global average pooling, 2 classes (1.2M parameters); maps (N, K, 4, 8, 8).

For each model and batch size (1 and 8), one loop calls, in turn: the model's
compiled forward pass (models.py's, as latency.py), `camlens.Explainer(model)(x)`
(Grad-CAM of the top class at the automatic layer, the last ReLU) and
`camlens.Explainer(model, method="gradcam++")(x)`. After the warm-up (two calls on
TensorFlow: camlens runs a one-off call eagerly and compiles on reuse; one
elsewhere), each round times every call once; the table gives the medians and
the ratios of medians. A second loop, one input, times Score-CAM with
`max_channels=K` (Faster Score-CAM: K masked forward passes, one batch) against
the compiled forward pass on a batch of K inputs, the masked passes it needs.

A method camlens refuses for a model reads `n/a`, the reason printed below the
table. Rounds stop after `--budget` seconds per row (at least 3 rounds).
`--quick`: few rounds, 15 s per row. `--full`: more rounds, no budget.
"""

from __future__ import annotations

from functools import partial

import keras

import camlens
import models as bench


def conv1d() -> keras.Model:
    """The ECG-like 1-D CNN: (1000, 12) -> 5 classes."""
    blocks = [(64, 7), (128, 5), (256, 5), (256, 3), (512, 3)]
    return _cnn(
        "ecg_cnn",
        (1000, 12),
        blocks,
        4,
        5,
        keras.layers.Conv1D,
        keras.layers.MaxPooling1D,
        keras.layers.GlobalAveragePooling1D,
    )


def conv3d() -> keras.Model:
    """The CT-like 3-D CNN: (32, 64, 64, 1) -> 2 classes."""
    blocks = [(16, 3), (32, 3), (64, 3), (128, 3), (256, 3)]
    return _cnn(
        "ct_cnn",
        (32, 64, 64, 1),
        blocks,
        3,
        2,
        keras.layers.Conv3D,
        keras.layers.MaxPooling3D,
        keras.layers.GlobalAveragePooling3D,
    )


def _cnn(name: str, shape: tuple, blocks: list, pooled: int, classes: int, conv, pool, average):
    """Conv-BatchNorm-ReLU blocks of (filters, kernel), "same" padding, max pooling by 2
    after the first `pooled` blocks, the last ReLU named LAYER, global average pooling,
    a softmax over `classes`."""
    inputs = keras.Input(shape)
    x = inputs
    for index, (filters, kernel) in enumerate(blocks):
        x = conv(filters, kernel, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU(name=LAYER if index == len(blocks) - 1 else None)(x)
        if index < pooled:
            x = pool(2)(x)
    x = average()(x)
    outputs = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


LAYER = "last_relu"
MODELS = {
    "conv1d": ("Conv1D ECG-like (1000, 12)", conv1d),
    "conv3d": ("Conv3D CT-like (32, 64, 64, 1)", conv3d),
}
METHODS = ("gradcam", "gradcam++")


def main() -> None:
    parser = bench.argument_parser(
        __doc__,
        quick="few rounds, 15 s per row",
        full="more rounds, no time budget",
        models=MODELS,
    )
    parser.add_argument("--budget", type=float, default=None, help="seconds of rounds per row")
    parser.add_argument("--max-channels", type=int, default=32, help="Score-CAM channels scored")
    args = parser.parse_args()
    names = bench.model_names(args.models, args.quick, models=MODELS)
    rounds = {1: 5, 8: 3} if args.quick else {1: 31, 8: 11} if args.full else {1: 15, 8: 7}
    budget = (
        args.budget
        if args.budget is not None
        else (15.0 if args.quick else None if args.full else 60.0)
    )
    warmup = 2 if bench.backend() == "tensorflow" else 1
    channels = args.max_channels
    bench.header(
        "Signals and volumes: warm latency (ms, median after warm-up, calls interleaved)",
        args.quick,
    )
    refused: dict[str, str] = {}
    built = {name: _built(MODELS[name][1]) for name in names}
    print(bench.table(GRADIENT_HEADERS, []), flush=True)
    for name, (model, forward) in built.items():
        title = MODELS[name][0]
        explainers = {method: _explainer(model, method, refused, title) for method in METHODS}
        for batch in (1, 8):
            x = bench.random_images(batch, shape=model.input_shape[1:])
            calls = {"forward": partial(forward, x)}
            maps = {}
            for method, explainer in explainers.items():
                maps[method] = _first(explainer, x, refused, f"{title}: {method}")
                if maps[method] is not None:
                    calls[method] = partial(explainer, x)
            medians, done = bench.interleaved(calls, rounds[batch], warmup, budget)
            shown = maps["gradcam"] if maps["gradcam"] is not None else maps["gradcam++"]
            print(bench.row(_gradient_row(title, model, batch, shown, medians, done)), flush=True)
    print()
    print(f"## Score-CAM, one input, max_channels={channels}\n")
    print(bench.table(SCORECAM_HEADERS, []), flush=True)
    for name, (model, forward) in built.items():
        title = MODELS[name][0]
        scorer = _explainer(model, "scorecam", refused, title, max_channels=channels)
        x = bench.random_images(1, shape=model.input_shape[1:])
        masked = bench.random_images(channels, seed=5, shape=model.input_shape[1:])
        calls = {"masked forward": partial(forward, masked)}
        if _first(scorer, x, refused, f"{title}: scorecam") is not None:
            calls["scorecam"] = partial(scorer, x)
        medians, done = bench.interleaved(calls, rounds[8], warmup, budget)
        print(
            bench.row(
                [
                    title,
                    channels,
                    bench.ms(medians["masked forward"]),
                    bench.ms(medians.get("scorecam")),
                    bench.ratio(medians.get("scorecam"), medians["masked forward"]),
                    done,
                ]
            ),
            flush=True,
        )
    print()
    for where, reason in refused.items():
        print(f"n/a, {where}: {reason}")
    print(NOTES.format(budget=f"{budget:.0f} s" if budget else "none"))


GRADIENT_HEADERS = [
    "model",
    "parameters",
    "batch",
    "maps",
    "forward",
    "Grad-CAM",
    "Grad-CAM / forward",
    "Grad-CAM++",
    "Grad-CAM++ / forward",
    "rounds",
]
SCORECAM_HEADERS = [
    "model",
    "channels scored",
    "forward on that many inputs",
    "Score-CAM",
    "Score-CAM / masked forward",
    "rounds",
]

NOTES = """\
forward: the compiled forward pass of the same model and batch (TF tf.function,
JAX jax.jit over stateless_call, torch eager under no_grad), numpy in and out.
Grad-CAM: camlens.Explainer(model)(x), the top class at the automatic layer,
numpy maps; Grad-CAM++: the same with method="gradcam++". maps: the heatmaps'
shape (N, K, ...). Score-CAM: Explainer(model, method="scorecam",
max_channels=K)(x) on one input, against the forward pass on K inputs (its
masked passes). Ratios are ratios of medians. Time budget per row: {budget}."""


def _built(build):
    """(model, its compiled forward pass): seeded weights, BatchNorm calibrated on random inputs."""
    keras.utils.set_random_seed(bench.SEED)
    model = build()
    bench.calibrate_batchnorm(model, model.input_shape[1:])
    return model, bench.compiled_forward(model)


def _explainer(model, method: str, refused: dict, title: str, **options):
    """An Explainer at the automatic layer; None (the reason kept) where refused."""
    try:
        explainer = camlens.Explainer(model, method=method, **options)
    except (TypeError, ValueError, NotImplementedError) as error:
        refused[f"{title}: {method}"] = f"{type(error).__name__}: {error}"
        return None
    return explainer


def _first(explainer, x, refused: dict, where: str):
    """One call outside the timing: its maps, or None (the reason kept) where refused."""
    if explainer is None:
        return None
    try:
        maps = explainer(x)
    except (TypeError, ValueError, NotImplementedError) as error:
        refused[where] = f"{type(error).__name__}: {error}"
        return None
    if explainer.layer.name != LAYER:
        raise SystemExit(f"{where}: camlens chose {explainer.layer.name!r}, expected {LAYER!r}")
    return maps


def _gradient_row(title: str, model, batch: int, maps, medians: dict, done: int) -> list:
    forward = medians["forward"]
    return [
        title,
        f"{model.count_params() / 1e6:.2f}M",
        batch,
        "n/a" if maps is None else str(tuple(maps.heatmaps.shape)),
        bench.ms(forward),
        bench.ms(medians.get("gradcam")),
        bench.ratio(medians.get("gradcam"), forward),
        bench.ms(medians.get("gradcam++")),
        bench.ratio(medians.get("gradcam++"), forward),
        done,
    ]


if __name__ == "__main__":
    main()
