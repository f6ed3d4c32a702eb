"""Time per method for one image: the demo model and a MobileNetV2-sized model.

Usage: KERAS_BACKEND=tensorflow python benchmarks/methods.py [--quick]

Prints, per method, the median seconds of a warm call (after one warm-up call)
for one image, and the ratio to the same model's plain forward pass.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

import camlens
from camlens.demo import load_demo_model, make_dataset
from camlens.methods import METHODS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, demo model only")
    args = parser.parse_args()
    repeats = 2 if args.quick else 3
    models = [("demo model (64x64)", load_demo_model(), make_dataset(1, seed=99).images)]
    if not args.quick:
        mobilenet = keras.applications.MobileNetV2(weights=None)
        image = np.random.default_rng(0).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
        models.append(("MobileNetV2 (224x224, random weights)", mobilenet, image))
    print(f"backend: {keras.backend.backend()}, one image, median of {repeats} warm calls\n", flush=True)
    print("| model | method | seconds | / forward |")
    print("|---|---|---|---|")
    for title, model, image in models:
        forward = _median(lambda: model.predict_on_batch(image), repeats)
        for name in METHODS:
            explainer = camlens.Explainer(model, method=name)
            seconds = _median(lambda: explainer(image), repeats)
            print(f"| {title} | {name} | {seconds:.4f} | {seconds / forward:.1f} |", flush=True)


def _median(call, repeats: int) -> float:
    call()  # warm-up: the first call runs eagerly on TensorFlow
    call()  # the second traces and compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


if __name__ == "__main__":
    main()
