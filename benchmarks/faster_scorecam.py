"""Faster Score-CAM: `max_channels=64` against full Score-CAM at MobileNetV2's out_relu.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/faster_scorecam.py
        [--quick] [--count 20] [--max-channels 64] [--rounds 2]

Time: one image, `Explainer(model, "out_relu", "scorecam")` (1280 channels, 20
batches of 64 masked images) and the same with `max_channels=64` (one batch),
timed in alternation after one warm-up call each (two on TensorFlow, whose first
call runs eagerly); medians of `--rounds` rounds. Agreement: over `--count`
images, the Spearman rank correlation of each image's fast map with its full map
(reported, nothing asserted). `--quick`: 4 images, 1 round.
"""

from __future__ import annotations

import argparse

import numpy as np

import camlens
import models as bench
from camlens.metrics import spearman

LAYER = "out_relu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 images, 1 round")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--max-channels", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    count, rounds = (4, 1) if args.quick else (args.count, args.rounds)
    bench.header(f"Faster Score-CAM at MobileNetV2 {LAYER}, one image", args.quick)
    model = bench.build_model("mobilenetv2")
    full = camlens.Explainer(model, layer=LAYER, method="scorecam")
    fast = camlens.Explainer(model, layer=LAYER, method="scorecam", max_channels=args.max_channels)
    image = bench.random_images(1)
    medians, done = bench.interleaved(
        {"full": lambda: full(image), "fast": lambda: fast(image)},
        rounds,
        warmup=2 if bench.backend() == "tensorflow" else 1,
    )
    images = bench.random_images(count, seed=7)
    correlations = np.array(
        [
            spearman(
                full(images[n : n + 1]).heatmaps.ravel(), fast(images[n : n + 1]).heatmaps.ravel()
            )
            for n in range(count)
        ]
    )
    print(
        bench.table(
            ["channels scored", "s / image", "speed-up", f"rank corr. with full ({count} images)"],
            [
                [
                    f"all {model.get_layer(LAYER).output.shape[-1]}",
                    f"{medians['full']:.2f}",
                    "1",
                    "1",
                ],
                [
                    f"{args.max_channels} (largest variance)",
                    f"{medians['fast']:.3f}",
                    f"{medians['full'] / medians['fast']:.1f}x",
                    f"median {np.median(correlations):.3f}, min {correlations.min():.3f}, "
                    f"mean {correlations.mean():.3f}",
                ],
            ],
        )
    )
    print(
        f"\n{done} timed rounds after warm-up; agreement over seeded random images "
        "(uniform in [-1, 1]), the model's top class of each."
    )


if __name__ == "__main__":
    main()
