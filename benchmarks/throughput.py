"""Batch throughput: `camlens.explain_batch` vs `model.predict` over 512 images.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/throughput.py [--quick | --full]
        [--models mobilenetv2,resnet50] [--images N] [--budget SECONDS] [--forward]

Both run over the same images in batches of 32: `camlens.explain_batch(model, x,
batch_size=32)` (Grad-CAM of each image's top class) and `model.predict(x,
batch_size=32)`. After a warm-up on 64 images each (camlens on TensorFlow runs a
one-off call eagerly and compiles on reuse, so two batches), the two alternate;
the table gives images per second from the median pass and their ratio.

`--forward` adds a third reference: the compiled forward pass of models.py called
batch after batch (`model.predict` adds its own per-batch overhead).

The default is 512 images, 1 pass each (`--full`: 3 passes each, `--forward`,
no cap). Where the warm-up shows that the passes would not fit in `--budget`
seconds per model (default 240; slow CPUs, JAX or torch), the image count is
capped to a multiple of 32 that fits, at least 64, and the `images` column says
so. `--quick`: MobileNetV2, 128 images, 3 passes each (one pass is at the mercy
of a shared machine).
"""

from __future__ import annotations

import time
from functools import partial

import camlens
import models as bench


def main() -> None:
    parser = bench.argument_parser(
        __doc__, quick="MobileNetV2, 128 images", full="512 images, 3 passes, no cap"
    )
    parser.add_argument("--images", type=int, default=None, help="images per pass (default 512)")
    parser.add_argument("--budget", type=float, default=None, help="seconds per model")
    parser.add_argument("--forward", action="store_true", help="add the compiled forward pass")
    args = parser.parse_args()
    with_forward = args.forward or args.full
    names = bench.model_names(args.models, args.quick)
    count = args.images or (128 if args.quick else 512)
    passes = 3 if (args.full or args.quick) else 1
    budget = args.budget if args.budget is not None else None if args.full else 240.0
    bench.header(f"Batch throughput (images/s, batches of {BATCH})", args.quick)
    print(bench.table(HEADERS, []), flush=True)
    for name in names:
        model = bench.build_model(name)
        forward = bench.compiled_forward(model) if with_forward else None
        seconds = _warm_up(model, forward)
        images_n = count
        if budget is not None:
            fitting = int(budget / (passes * sum(seconds.values()))) * BATCH
            images_n = max(2 * BATCH, min(count, fitting))
        images = bench.random_images(images_n, seed=3)
        calls = {
            "predict": partial(model.predict, images, batch_size=BATCH, verbose=0),
            "camlens": partial(
                camlens.explain_batch, model, images, batch_size=BATCH, progress=False
            ),
        }
        if forward is not None:
            calls["forward"] = partial(_forward_in_batches, forward, images)
        medians, done = bench.interleaved(calls, passes, warmup=0)
        per_second = {tool: images_n / value for tool, value in medians.items()}
        capped = "" if images_n == count else f" (capped from {count})"
        print(
            bench.row(
                [
                    bench.MODELS[name][0],
                    f"{images_n}{capped}",
                    f"{per_second['predict']:.1f}",
                    f"{per_second['camlens']:.1f}",
                    bench.ratio(per_second["camlens"], per_second["predict"]),
                    f"{per_second['forward']:.1f}" if forward else "n/a",
                    bench.ratio(per_second["camlens"], per_second.get("forward")),
                    done,
                ]
            ),
            flush=True,
        )
    print()
    print(NOTES)


BATCH = 32

HEADERS = [
    "model",
    "images",
    "predict",
    "camlens explain_batch",
    "camlens / predict",
    "compiled forward",
    "camlens / forward",
    "passes",
]

NOTES = """\
Images per second of one pass over all images (median of the passes):
model.predict(x, batch_size=32) and camlens.explain_batch(model, x, batch_size=32),
Grad-CAM of each image's top class, heatmaps returned as numpy; compiled forward
(--forward, --full): the compiled forward pass of models.py on each batch of 32."""


def _forward_in_batches(forward, images) -> list:
    """The compiled forward pass over `images`, BATCH at a time."""
    return [forward(images[start : start + BATCH]) for start in range(0, len(images), BATCH)]


def _warm_up(model, forward) -> dict[str, float]:
    """Warm each on 64 images; seconds of one more batch of each."""
    images = bench.random_images(2 * BATCH, seed=4)
    seconds = {}
    tools = [
        ("predict", lambda x: model.predict(x, batch_size=BATCH, verbose=0)),
        ("camlens", lambda x: camlens.explain_batch(model, x, batch_size=BATCH, progress=False)),
    ]
    if forward is not None:
        tools.append(("forward", partial(_forward_in_batches, forward)))
    for tool, call in tools:
        call(images)
        start = time.perf_counter()
        call(images[:BATCH])
        seconds[tool] = time.perf_counter() - start
    return seconds


if __name__ == "__main__":
    main()
