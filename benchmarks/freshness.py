"""The cost of checking, on every call, that a model was not changed in place.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/freshness.py [--quick]
        [--models mobilenetv2,resnet50,vit_ti16]

camlens caches a model's inspection and compiled probes, and checks at the start
of every probe pass that the model is still what they describe
(`camlens.model.state.refresh`: a walk over its layers). For each model (random
weights, BatchNorm calibrated, see models.py), one loop calls, in turn: the
model's compiled forward pass, `explain_prediction(model, x)` as shipped, and
`explain_prediction(model, x)` with the check replaced by a no-op; and, apart,
the check alone (its median over 200 calls). The table gives medians after
warm-up and the ratios of medians.
"""

from __future__ import annotations

import time
from unittest import mock

import camlens
import models as bench
from camlens.api import explainer as explainer_module
from camlens.model.state import refresh

HEADERS = [
    "model",
    "layers",
    "forward",
    "explain_prediction",
    "without the check",
    "with / without",
    "explain_prediction / forward",
    "the check alone",
    "rounds",
]


def main() -> None:
    parser = bench.argument_parser(__doc__, quick="MobileNetV2 only, few rounds", full=None)
    args = parser.parse_args()
    names = bench.model_names(args.models, args.quick)
    rounds = 7 if args.quick else 31
    bench.header("The in-place change check (ms, medians, calls interleaved)", args.quick)
    print(bench.table(HEADERS, []), flush=True)
    for name in names:
        print(bench.row(_measured(name, rounds)), flush=True)


def _measured(name: str, rounds: int) -> list:
    """One table row: the model's forward pass, explain_prediction with and
    without the check (interleaved), and the check alone."""
    title = bench.MODELS[name][0]
    model = bench.build_model(name)
    images = bench.random_images(1)
    forward = bench.compiled_forward(model)
    unchecked = mock.patch.object(explainer_module, "refresh", lambda model: False)

    def without_check():
        with unchecked:
            return camlens.explain_prediction(model, images)

    calls = {
        "forward": lambda: forward(images),
        "checked": lambda: camlens.explain_prediction(model, images),
        "unchecked": without_check,
    }
    warmup = 2 if bench.backend() == "tensorflow" else 1
    medians, done = bench.interleaved(calls, rounds, warmup)
    check = _median_seconds(lambda: refresh(model), 200)
    layers = len(model._flatten_layers(include_self=False, recursive=True))
    return [
        title,
        layers,
        bench.ms(medians["forward"]),
        bench.ms(medians["checked"]),
        bench.ms(medians["unchecked"]),
        bench.ratio(medians["checked"], medians["unchecked"], 3),
        bench.ratio(medians["checked"], medians["forward"]),
        f"{check * 1e3:.3f}",
        done,
    ]


def _median_seconds(call, count: int) -> float:
    times = []
    for _ in range(count):
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return sorted(times)[count // 2]


if __name__ == "__main__":
    main()
