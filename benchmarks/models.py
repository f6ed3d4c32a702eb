"""What every benchmark shares: models, inputs, compiled forward passes, timing.

Models are `keras.applications.MobileNetV2` and `ResNet50` with random weights
(`weights=None`, seeded), nothing downloaded. Random weights leave BatchNorm's
moving statistics at mean 0, variance 1, so activations grow or vanish from
layer to layer and the outputs degenerate. `calibrate_batchnorm` sets every
BatchNorm layer's moving mean and variance to the batch statistics of its input
on a few seeded random images, layer after layer: it runs one forward pass in
training mode with every layer's momentum set to 0, which is the same thing (in
training mode each BatchNorm normalises its input by that input's batch
statistics, which already went through the layers before it normalised by their
own), then restores the momenta. After it, inference on the calibration images
gives what training mode gives, and the outputs are spread over many classes.

The calibrated weights are written once per backend and model to
`$TMPDIR/camlens-benchmarks/`, so the fresh processes of the cold-latency and
memory benchmarks load them instead of running a forward pass before the call
they measure.

Run as a script, it prints a sanity line per model: output spread before and
after calibration.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

SEED = 0
CALIBRATION_SEED = 1
CALIBRATION_IMAGES = 8
IMAGE_SEED = 2
IMAGE_SHAPE = (224, 224, 3)

MODELS = {
    "mobilenetv2": ("MobileNetV2", "MobileNetV2", "out_relu"),
    "resnet50": ("ResNet50", "ResNet50", "conv5_block3_out"),
    "vit_ti16": ("ViT-Ti/16 (keras-hub)", "vit_ti16", "transformer_block_11"),
    "swin_t": ("Swin-T (keras-hub)", "swin_t", "norm"),
}
"""name -> (title, constructor, the layer camlens picks by default).

The constructor is a `keras.applications` name, or one of `HUB_MODELS`
(keras-hub classifiers built from the published configs, 1000 classes).
Every tool is given that layer, so all explain the same activations."""

TRANSFORMERS = ("vit_ti16", "swin_t")
"""Models whose explained layer outputs tokens: ELI5 and tf-keras-vis cannot explain them."""


def backend() -> str:
    return keras.backend.backend()


def build_model(name: str, calibrated: bool = True) -> keras.Model:
    """A seeded random-weight model, its BatchNorm statistics calibrated.

    The first call per backend and model calibrates and writes the weights to
    the cache; later calls, in any process, load them.
    """
    keras.utils.set_random_seed(SEED)
    constructor = MODELS[name][1]
    if constructor in HUB_MODELS:
        model = HUB_MODELS[constructor]()
    else:
        model = getattr(keras.applications, constructor)(weights=None)
    if not calibrated:
        return model
    path = _weights_path(name)
    if os.path.exists(path):
        model.load_weights(path)
    else:
        calibrate_batchnorm(model)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.{os.getpid()}.weights.h5"
        model.save_weights(partial)
        os.replace(partial, path)
    return model


def _vit_ti16() -> keras.Model:
    """ViT-Ti/16 at 224x224 (Touvron et al.'s tiny shape): 12 blocks, 3 heads, width 192."""
    import keras_hub

    backbone = keras_hub.models.ViTBackbone(
        image_shape=IMAGE_SHAPE,
        patch_size=16,
        num_layers=12,
        num_heads=3,
        hidden_dim=192,
        mlp_dim=768,
    )
    return keras_hub.models.ViTImageClassifier(backbone, num_classes=1000)


def _swin_t() -> keras.Model:
    """Swin-T at 224x224: patch 4, width 96, depths (2, 2, 6, 2), window 7."""
    import keras_hub

    backbone = keras_hub.models.SwinTransformerBackbone(
        image_shape=IMAGE_SHAPE,
        patch_size=4,
        embed_dim=96,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size=7,
    )
    return keras_hub.models.SwinTransformerImageClassifier(backbone, num_classes=1000)


HUB_MODELS = {"vit_ti16": _vit_ti16, "swin_t": _swin_t}


def prepare(name: str) -> None:
    """Make sure the calibrated weights of `name` are cached, in a separate process.

    Fresh processes measuring a first call then only load them; the calibration's
    forward pass never runs in a process whose first call is timed.
    """
    if not os.path.exists(_weights_path(name)):
        subprocess.run([sys.executable, __file__, "--prepare", name], check=True)


def calibrate_batchnorm(model: keras.Model, shape: tuple[int, ...] = IMAGE_SHAPE) -> None:
    """Set each BatchNorm's moving statistics from its input on seeded random inputs.

    `shape`: one input's shape (224x224 RGB by default; a signal's `(T, C)` or a
    volume's `(D, H, W, C)` for the models of ranks.py).
    """
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        model(random_images(CALIBRATION_IMAGES, CALIBRATION_SEED, shape), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


def random_images(
    count: int, seed: int = IMAGE_SEED, shape: tuple[int, ...] = IMAGE_SHAPE
) -> np.ndarray:
    """(count, *shape) float32, uniform in [-1, 1], seeded; shape (224, 224, 3) by default."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (count,) + tuple(shape)).astype(np.float32)


def compiled_forward(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """The model's inference pass, compiled the backend's usual way, numpy in and out
    (a model of several outputs: the same structure of numpy arrays).

    TensorFlow: `tf.function(lambda x: model(x, training=False))`; JAX: `jax.jit`
    over `model.stateless_call(trainable, non_trainable, x, training=False)`;
    torch: `model(x, training=False)` under `torch.no_grad()` (no compile step).
    """
    name = backend()
    to_numpy = partial(keras.tree.map_structure, keras.ops.convert_to_numpy)
    if name == "tensorflow":
        import tensorflow as tf

        function = tf.function(lambda x: model(x, training=False))
        return lambda x: to_numpy(function(x))
    if name == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def function(trainable, non_trainable, x):
            return model.stateless_call(trainable, non_trainable, x, training=False)[0]

        return lambda x: to_numpy(function(trainable, non_trainable, x))
    if name == "torch":
        import torch

        def forward(x):
            with torch.no_grad():
                return to_numpy(model(x, training=False))

        return forward
    raise RuntimeError(f"Unsupported backend {name!r}")


def interleaved(
    calls: dict[str, Callable[[], object]],
    rounds: int,
    warmup: int = 2,
    budget_s: float | None = None,
    min_rounds: int = 3,
) -> tuple[dict[str, float], int]:
    """Median seconds of each call, timed in alternation, after `warmup` calls each.

    Each round calls every function once, in order. With `budget_s`, rounds stop
    once that many seconds were spent on them (never before `min_rounds`).

    Returns:
        `({name: median seconds}, rounds run)`.
    """
    for _ in range(warmup):
        for call in calls.values():
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    start = time.perf_counter()
    done = 0
    while done < rounds:
        for name, call in calls.items():
            begin = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - begin)
        done += 1
        spent = time.perf_counter() - start
        if budget_s is not None and done >= min_rounds and spent > budget_s:
            break
    return {name: statistics.median(values) for name, values in times.items()}, done


def tool_call(tool: str, layer: str) -> Callable[[keras.Model, np.ndarray], object]:
    """Import one tool (outside any timing) and return `call(model, images)`.

    Tools: "forward" (the compiled forward pass, its compile included),
    "predict" (`model.predict`, batches of 32), "camlens" (`explain_prediction`
    for one image, `Explainer(model)(x)` for a batch), and on TensorFlow "eli5"
    (0.16) and "tf-keras-vis", both given `layer`. tf-keras-vis explains class 0:
    finding the top class would cost it a forward pass first.
    """
    if tool == "forward":
        return lambda model, images: compiled_forward(model)(images)
    if tool == "predict":
        return lambda model, images: model.predict(images, batch_size=32, verbose=0)
    if tool == "camlens":
        import camlens

        def explain(model, images):
            if len(images) == 1:
                return camlens.explain_prediction(model, images)
            return camlens.Explainer(model)(images)

        return explain
    if tool == "eli5":
        import eli5

        return lambda model, images: eli5.explain_prediction(model, images, layer=layer)
    if tool == "tf-keras-vis":
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.scores import CategoricalScore

        return lambda model, images: Gradcam(model, clone=True)(
            CategoricalScore([0] * len(images)),
            images,
            penultimate_layer=layer,
            seek_penultimate_conv_layer=False,
        )
    raise ValueError(f"unknown tool {tool!r}")


def argument_parser(doc: str, quick: str, full: str | None, models=None) -> argparse.ArgumentParser:
    """The options every benchmark has: --quick, --full (where `full` is given), --models.

    `models`: the names `--models` takes, for its help (MODELS by default).
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    if full is not None:
        parser.add_argument("--full", action="store_true", help=full)
    names = ",".join(MODELS if models is None else models)
    parser.add_argument("--models", default=None, help="comma-separated: " + names)
    return parser


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where not possible.

    `ru_maxrss` cannot be reset: it keeps transient peaks of building the model
    and, after a vfork/exec, may start at the parent's peak. Writing 5 to
    `/proc/self/clear_refs` (Linux >= 4.0) resets VmHWM, the same high-water mark
    for this process's memory from now on.
    """
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
        return True
    except OSError:
        return False


def rss_status_mb() -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident set size in MiB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _unit = line.split()
                values[key[:-1]] = int(amount) / 1024.0
    return values


def run_child(script: str, arguments: dict, timeout: float = 600, env: dict | None = None) -> dict:
    """Run `script --child JSON` in a fresh Python process; its last stdout line is JSON.

    `env`: variables set for the child on top of this process's environment.
    """
    env = dict(os.environ, **(env or {}))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = subprocess.run(
        [sys.executable, script, "--child", json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        tail = (result.stderr or result.stdout)[-3000:]
        last_line = tail.strip().splitlines()[-1] if tail.strip() else ""
        return {
            "error": f"exit {result.returncode}: {last_line}",
            "stderr": tail,
        }
    return json.loads(lines[-1])


def main_or_child(main: Callable[[], None], child: Callable[[dict], None]) -> None:
    """Run `child(arguments)` in a process started by `run_child`, else `main()`."""
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        main()


def table(headers: list[str], rows: list[list]) -> str:
    """A markdown table (only its header lines when `rows` is empty)."""
    lines = [row(headers), "|" + "---|" * len(headers)]
    return "\n".join(lines + [row(cells) for cells in rows])


def row(cells: list) -> str:
    """One markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def model_names(given: str | None, quick: bool, models=None) -> list[str]:
    """The models named by a `--models a,b` option; else MobileNetV2 with --quick, else all.

    `models`: the names to choose from instead of MODELS; without `--models`, all of them.
    """
    choices = list(MODELS if models is None else models)
    if given is None:
        return ["mobilenetv2"] if quick and models is None else choices
    names = [name.strip() for name in given.split(",") if name.strip()]
    unknown = sorted(set(names) - set(choices))
    if unknown:
        raise SystemExit(f"--models: unknown {unknown}; choose from {sorted(choices)}")
    return names


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1000:.1f}" if seconds < 10 else f"{seconds * 1000:.0f}"


def ratio(value: float | None, reference: float | None, digits: int = 2) -> str:
    if value is None or reference is None or reference == 0:
        return "n/a"
    return f"{value / reference:.{digits}f}"


def versions() -> str:
    import platform

    parts = [
        f"python {platform.python_version()}",
        f"keras {keras.__version__}",
        f"numpy {np.__version__}",
    ]
    name = backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[name]
    parts.append(f"{module} {__import__(module).__version__}")
    parts.append(f"{os.cpu_count()} CPUs")
    return ", ".join(parts)


def header(title: str, quick: bool) -> None:
    print(f"# {title}")
    print(f"backend: {backend()} ({versions()}){'  [--quick]' if quick else ''}")
    print(flush=True)


def _weights_path(name: str) -> str:
    folder = os.path.join(tempfile.gettempdir(), "camlens-benchmarks")
    return os.path.join(folder, f"{backend()}-{name}-seed{SEED}-cal{CALIBRATION_SEED}.weights.h5")


def _spread(model: keras.Model, images: np.ndarray) -> str:
    outputs = keras.ops.convert_to_numpy(model(images, training=False)).astype(np.float64)
    if not np.all(np.isfinite(outputs)):
        return "non-finite outputs"
    top = outputs.argmax(axis=1)
    return (
        f"top-1 probability median {np.median(outputs.max(axis=1)):.4f} "
        f"(uniform: {1 / outputs.shape[1]:.4f}), {len(set(top.tolist()))} distinct "
        f"top classes in {len(images)} images"
    )


def main() -> None:
    images = random_images(16, seed=IMAGE_SEED)
    print(f"backend: {backend()} ({versions()})")
    for name, (title, _, _) in MODELS.items():
        print(f"{title} uncalibrated: {_spread(build_model(name, calibrated=False), images)}")
        print(f"{title} calibrated:   {_spread(build_model(name), images)}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        build_model(sys.argv[2])
    else:
        main()
