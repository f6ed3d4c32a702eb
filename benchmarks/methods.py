"""Time per method for one image: the demo model and MobileNetV2.

Usage: KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/methods.py [--quick]
    [--methods gradcam,eigencam]

Prints, per method, the median seconds of a warm call for one image and its ratio
to the compiled forward pass of the same model (models.py), the two timed in
alternation after two warm-up calls each (on TensorFlow the first camlens call
runs eagerly, the second traces). MobileNetV2 has seeded random weights with
calibrated BatchNorm, as in the other benchmarks.
"""

from __future__ import annotations

import argparse
from functools import partial

import camlens
import models as bench
from camlens.demo import load_demo_model, make_dataset
from camlens.methods import METHODS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, demo model only")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated method names (default: all)"
    )
    args = parser.parse_args()
    rounds = 2 if args.quick else 3
    models = [("demo model (64x64)", load_demo_model(), make_dataset(1, seed=99).images)]
    if not args.quick:
        models.append(
            ("MobileNetV2 (224x224)", bench.build_model("mobilenetv2"), bench.random_images(1))
        )
    bench.header(f"Time per method, one image (median of {rounds} warm calls)", args.quick)
    print(bench.table(["model", "method", "seconds", "/ forward"], []), flush=True)
    for title, model, image in models:
        forward = bench.compiled_forward(model)
        for name in args.methods.split(","):
            explainer = camlens.Explainer(model, method=name)
            medians, _ = bench.interleaved(
                {"forward": partial(forward, image), "method": partial(explainer, image)}, rounds
            )
            seconds = medians["method"]
            print(
                bench.row(
                    [title, name, f"{seconds:.4f}", bench.ratio(seconds, medians["forward"], 1)]
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
