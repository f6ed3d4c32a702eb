"""Load time of `camlens.models.efficientnet_lite0()`: first load (conversion) and cached.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/imagenet_load.py [--repeats 3]

Each load runs in a fresh Python process with `CAMLENS_CACHE_DIR` pointing at an
empty temporary folder for the first load (the `.pth` is read and the Keras
weights file written) and at the filled one for the cached load. The timed part
is the call `efficientnet_lite0()` alone: imports are not timed. Needs the
`camlens[imagenet]` extra.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import models as bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per measurement")
    args = parser.parse_args()
    first, cached = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            first.append(_load_seconds(cache))
            cached.append(_load_seconds(cache))
    first_s, cached_s = statistics.median(first), statistics.median(cached)
    bench.header(
        f"EfficientNet-Lite0 load time (s, median of {args.repeats} fresh processes each)", False
    )
    print(
        bench.table(
            ["backend", "first load (converts the .pth)", "cached load", "cached / first"],
            [
                [
                    bench.backend(),
                    f"{first_s:.2f}",
                    f"{cached_s:.2f}",
                    bench.ratio(cached_s, first_s),
                ]
            ],
        )
    )


def child(arguments: dict) -> None:
    """Time one `efficientnet_lite0()` call; print JSON."""
    import camlens.models

    start = time.perf_counter()
    camlens.models.efficientnet_lite0()
    print(json.dumps({"seconds": time.perf_counter() - start}))


def _load_seconds(cache: str) -> float:
    result = bench.run_child(__file__, {}, env={"CAMLENS_CACHE_DIR": cache})
    if "error" in result:
        raise SystemExit(f"efficientnet_lite0() failed in the child: {result['error']}")
    return result["seconds"]


if __name__ == "__main__":
    bench.main_or_child(main, child)
