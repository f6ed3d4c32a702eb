"""`explain_methods` with six gradient methods against one Grad-CAM call.

Usage: KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/explain_methods.py [--quick]

MobileNetV2 (random weights, BatchNorm calibrated), its last conv layer, one
image and a batch of 8: `camlens.explain_methods(model, x, methods=SIX)` against
`Explainer(model)(x)` (Grad-CAM), timed in alternation after two warm-up calls
each; medians. The six methods share one probe pass; the ratio is what the five
extra numpy combinations add. `--quick`: the demo model, 3 rounds.
"""

from __future__ import annotations

import argparse
from functools import partial

import camlens
import models as bench
from camlens.demo import load_demo_model, make_dataset

SIX = ["gradcam", "layercam", "xgradcam", "hirescam", "eigengradcam", "gradcam-elementwise"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo model, 3 rounds")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    if args.quick:
        title, model, pool = (
            "demo model (64x64)",
            load_demo_model(),
            make_dataset(8, seed=99).images,
        )
    else:
        title, model, pool = (
            "MobileNetV2 (224x224)",
            bench.build_model("mobilenetv2"),
            bench.random_images(8),
        )
    rounds = 3 if args.quick else args.rounds
    bench.header("explain_methods (six gradient methods) / one Grad-CAM call", args.quick)
    explainer = camlens.Explainer(model)
    rows = []
    for count in (1, 8):
        x = pool[:count]
        medians, done = bench.interleaved(
            {
                "gradcam": partial(explainer, x),
                "six": partial(camlens.explain_methods, model, x, methods=SIX),
            },
            rounds,
        )
        rows.append(
            [
                title,
                count,
                f"{medians['gradcam']:.4f}",
                f"{medians['six']:.4f}",
                bench.ratio(medians["six"], medians["gradcam"]),
                done,
            ]
        )
    print(bench.table(["model", "images", "Grad-CAM s", "six methods s", "ratio", "rounds"], rows))
    print(f"\nsix methods: {', '.join(SIX)}")


if __name__ == "__main__":
    main()
