"""Load time of `camlens.models.efficientnet_lite0()`: first load (conversion) and cached.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/imagenet_load.py [--repeats 3]

Each load runs in a fresh Python process with `CAMLENS_CACHE_DIR` pointing at an
empty temporary folder for the first load (the `.pth` is read and the Keras
weights file written) and at the filled one for the cached loads. The timed part
is the call `efficientnet_lite0()` alone: imports are not timed. Needs the
`camlens[imagenet]` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, time
import camlens.models
start = time.perf_counter()
camlens.models.efficientnet_lite0()
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per measurement")
    args = parser.parse_args()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    first, cached = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            first.append(_load_seconds(cache))
            cached.append(_load_seconds(cache))
    print(f"# EfficientNet-Lite0 load time (s, median of {args.repeats} fresh processes each)")
    print(f"backend: {backend}\n")
    print("| backend | first load (converts the .pth) | cached load | cached / first |")
    print("|---|---|---|---|")
    first_s, cached_s = statistics.median(first), statistics.median(cached)
    print(f"| {backend} | {first_s:.2f} | {cached_s:.2f} | {cached_s / first_s:.2f} |")


def _load_seconds(cache: str) -> float:
    env = dict(os.environ, CAMLENS_CACHE_DIR=cache, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


if __name__ == "__main__":
    main()
