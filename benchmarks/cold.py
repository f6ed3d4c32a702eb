"""Cold latency: the first explanation in a fresh process, camlens vs ELI5 0.16 and tf-keras-vis.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/cold.py [--quick | --full]
        [--models mobilenetv2,resnet50] [--repeats N]

Every measurement runs in a fresh Python process that imports the libraries,
builds the model and loads its calibrated weights (models.py; no forward pass
has run), then times one call only:

- camlens: `camlens.explain_prediction(model, x)` at batch 1,
  `camlens.Explainer(model)(x)` at batch 32 (layer resolution included);
- forward: the first call of the compiled forward pass (its trace/compile);
- ELI5 0.16 (TensorFlow, batch 1): `eli5.explain_prediction(model, x, layer=...)`;
- tf-keras-vis (TensorFlow, batch 1): `Gradcam(model)(CategoricalScore([k]), x, ...)`.

The table gives the median over `--repeats` processes: by default 3 for camlens
and ELI5 at batch 1 (the pair the target compares), 1 for the others; `--full`:
3 for all; `--quick`: MobileNetV2, batch 1, 1 process each (~1 min).
"""

from __future__ import annotations

import statistics
import sys
import time

import models as bench


def main() -> None:
    parser = bench.argument_parser(
        __doc__, quick="MobileNetV2, batch 1, 1 process", full="3 processes for every row"
    )
    parser.add_argument("--repeats", type=int, default=None, help="processes per measurement")
    args = parser.parse_args()
    names = bench.model_names(args.models, args.quick)
    batches = (1,) if args.quick else (1, 32)
    tools = ["forward", "camlens"]
    if bench.backend() == "tensorflow":
        tools += ["eli5", "tf-keras-vis"]
    bench.header("Cold latency (s, first call in a fresh process, model built)", args.quick)
    print(bench.table(HEADERS, []), flush=True)
    for name in names:
        bench.prepare(name)
        for batch in batches:
            seconds, counts = {}, {}
            for tool in tools:
                if tool in ("eli5", "tf-keras-vis") and batch != 1:
                    continue
                repeats = _repeats(args, tool, batch)
                counts[tool] = repeats
                runs = []
                for _ in range(repeats):
                    result = bench.run_child(
                        __file__, {"model": name, "batch": batch, "tool": tool}
                    )
                    if "error" in result:
                        print(f"{tool} failed: {result['error']}", file=sys.stderr)
                        break
                    runs.append(result["seconds"])
                seconds[tool] = statistics.median(runs) if runs else None
            print(bench.row(_row(bench.MODELS[name][0], batch, seconds, counts)), flush=True)
    print()
    print(NOTES)


HEADERS = [
    "model",
    "batch",
    "forward",
    "camlens",
    "camlens / forward",
    "ELI5 0.16",
    "camlens / ELI5",
    "tf-keras-vis",
    "camlens / tf-keras-vis",
    "processes (per tool)",
]

NOTES = """\
Seconds of the first call only (imports, model build and weight loading are not
timed). forward: the first call of the compiled forward pass (tracing or
compiling included). camlens at batch 1 is explain_prediction, at batch 32
Explainer(model)(x). Median over the processes; ratios are ratios of medians."""


def _repeats(args, tool: str, batch: int) -> int:
    """Processes per measurement: 3 for the camlens / ELI5 comparison, else 1 (3 with --full)."""
    if args.repeats is not None:
        return args.repeats
    if args.quick:
        return 1
    if args.full or (batch == 1 and tool in ("camlens", "eli5")):
        return 3
    return 1


def _row(title: str, batch: int, seconds: dict, counts: dict) -> list:
    def s(value):
        return "n/a" if value is None else f"{value:.2f}"

    camlens_s = seconds.get("camlens")
    return [
        title,
        batch,
        s(seconds.get("forward")),
        s(camlens_s),
        bench.ratio(camlens_s, seconds.get("forward")),
        s(seconds.get("eli5")),
        bench.ratio(camlens_s, seconds.get("eli5")),
        s(seconds.get("tf-keras-vis")),
        bench.ratio(camlens_s, seconds.get("tf-keras-vis")),
        " / ".join(f"{counts[tool]}" for tool in counts),
    ]


def child(arguments: dict) -> None:
    """Build the model, then time the first call of one tool; print JSON."""
    import json

    name, batch, tool = arguments["model"], arguments["batch"], arguments["tool"]
    layer = bench.MODELS[name][2]
    call = bench.tool_call(tool, layer)
    model = bench.build_model(name)
    images = bench.random_images(batch)
    start = time.perf_counter()
    call(model, images)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    bench.main_or_child(main, child)
