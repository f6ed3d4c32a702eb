"""Targets: per-image class ids against the top prediction; memory under new lambdas.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/targets.py [--quick | --full]
        [--models demo,mobilenetv2] [--images N] [--passes N] [--calls N]
        [--memory-only | --throughput-only]

1. Throughput: `camlens.explain_batch(model, x, batch_size=32)` over 512 images
   with `targets=None` (each image's top class) and with `targets=ids`, an int
   array (N,) of class ids per image, timed in alternation after a warm-up; the
   ratio should be close to 1 (the same compiled computation, the ids a tensor
   argument).
2. Memory: 10,000 calls of `Explainer(model)(images, targets=lambda p: p[:, k])`,
   each with a new lambda, on the demo model and two images (TensorFlow runs a
   first call on one image eagerly; two always run compiled); the resident set size (VmRSS) is
   printed every 1,000 calls. Compiled functions are keyed by the kind of target
   (a callable slot), the callable runs outside them, so nothing is traced or
   kept per lambda and the RSS stays flat.

The demo model is camlens's own small CNN (64x64 inputs); `--models mobilenetv2`
adds Keras's MobileNetV2 with seeded random weights. `--quick`: 128 images and
2,000 calls.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np

import camlens
import models as bench
from camlens.demo import load_demo_model


def main() -> None:
    parser = bench.argument_parser(__doc__, quick="128 images, 2,000 calls", full="3 passes")
    parser.add_argument("--images", type=int, default=None, help="images per pass (default 512)")
    parser.add_argument(
        "--passes", type=int, default=None, help="timed passes (default 2, --full 3)"
    )
    parser.add_argument(
        "--calls", type=int, default=None, help="calls with a new lambda (default 10000)"
    )
    parts = parser.add_mutually_exclusive_group()
    parts.add_argument("--memory-only", action="store_true", help="skip the throughput part")
    parts.add_argument("--throughput-only", action="store_true", help="skip the memory part")
    args = parser.parse_args()
    count = args.images or (128 if args.quick else 512)
    calls = args.calls or (2000 if args.quick else 10000)
    passes = args.passes or (3 if args.full else 2)
    names = (args.models or "demo").split(",")

    bench.header(f"Per-image targets (images/s, batches of {BATCH}, {count} images)", args.quick)
    print(bench.table(THROUGHPUT, []), flush=True)
    for name in [] if args.memory_only else names:
        model, size = _model(name)
        images = np.random.default_rng(3).uniform(0, 255 if name == "demo" else 1, (count,) + size)
        images = images.astype(np.float32)
        ids = np.random.default_rng(4).integers(0, model.output_shape[-1], count)
        runs = {
            "top": partial(camlens.explain_batch, model, images, batch_size=BATCH, progress=False),
            "ids": partial(
                camlens.explain_batch, model, images, targets=ids, batch_size=BATCH, progress=False
            ),
        }
        medians, done = bench.interleaved(runs, passes, warmup=1)
        top, per_image = count / medians["top"], count / medians["ids"]
        print(
            bench.row([name, f"{top:.1f}", f"{per_image:.1f}", bench.ratio(per_image, top), done]),
            flush=True,
        )

    if args.throughput_only:
        print()
        print(THROUGHPUT_NOTES)
        return
    print()
    print(f"## Resident memory over {calls} calls, a new lambda each (demo model, two images)\n")
    print(bench.table(MEMORY, []), flush=True)
    model, size = _model("demo")
    pair = np.random.default_rng(5).uniform(0, 255, (2,) + size).astype(np.float32)
    classes = model.output_shape[-1]
    start = time.perf_counter()
    for call in range(1, calls + 1):
        camlens.Explainer(model)(pair, targets=lambda p, k=call % classes: p[:, k])
        if call == 1 or call % (calls // 10) == 0:
            rss = bench.rss_status_mb()["VmRSS"]
            print(
                bench.row(
                    [call, f"{rss:.1f}", f"{(time.perf_counter() - start) / call * 1e3:.2f}"]
                ),
                flush=True,
            )
    print()
    print(NOTES)


BATCH = 32
THROUGHPUT = ["model", "targets=None", "targets=ids (N,)", "ids / None", "passes"]
MEMORY = ["calls", "RSS MiB", "ms / call (mean so far)"]
THROUGHPUT_NOTES = "Throughput: images per second of one explain_batch pass (median of the passes)."
NOTES = (
    THROUGHPUT_NOTES
    + """
Memory: VmRSS after that many calls; each call builds a new Explainer and a new
lambda target on the same model (the probe is cached per model and layer)."""
)


def _model(name: str):
    if name == "demo":
        return load_demo_model(), (64, 64, 3)
    return bench.build_model(name), bench.IMAGE_SHAPE


if __name__ == "__main__":
    main()
