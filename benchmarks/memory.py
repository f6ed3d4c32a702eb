"""Peak memory: camlens vs `model.predict` (and, on TensorFlow, ELI5 0.16 and tf-keras-vis).

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/memory.py [--quick]
        [--models mobilenetv2,resnet50]

Every measurement runs in a fresh Python process: it imports the libraries,
builds the model and loads its calibrated weights (models.py), makes the input,
then resets the kernel's peak-RSS mark (VmHWM, via /proc/self/clear_refs) and
reads the resident set size (VmRSS) as the baseline. It then calls the tool twice
(the first call traces or compiles, the second is warm) and reports the peak RSS
reached over the baseline, in MiB; then the peak of a third call over the RSS
just before it (the steady-state cost of a warm call). Peak RSS counts native
allocations (TensorFlow, XLA, torch), which tracemalloc does not see.

`ru_maxrss` (getrusage) is reported too, as its increase over its value at the
baseline; it cannot be reset, so it reads low when building the model peaked
higher than the calls (or when the process inherited its parent's mark).

Tools: `model.predict(x, batch_size=32)`; camlens `Explainer(model)(x)` at batch
32 and `explain_prediction(model, x)` at batch 1; at batch 1 on TensorFlow,
`eli5.explain_prediction` and tf-keras-vis `Gradcam`. `--quick`: MobileNetV2,
batch 32 only.
"""

from __future__ import annotations

import sys

import models as bench


def main() -> None:
    parser = bench.argument_parser(__doc__, quick="MobileNetV2, batch 32 only", full=None)
    args = parser.parse_args()
    names = bench.model_names(args.models, args.quick)
    batches = (32,) if args.quick else (32, 1)
    extra = ["eli5", "tf-keras-vis"] if bench.backend() == "tensorflow" else []
    bench.header("Peak memory (MiB of peak RSS over the baseline after model build)", args.quick)
    print(bench.table(HEADERS, []), flush=True)
    for name in names:
        bench.prepare(name)
        for batch in batches:
            results = {}
            for tool in ["predict", "camlens"] + (extra if batch == 1 else []):
                result = bench.run_child(__file__, {"model": name, "batch": batch, "tool": tool})
                if "error" in result:
                    print(f"{tool} failed: {result['error']}", file=sys.stderr)
                results[tool] = result
            print(bench.row(_row(bench.MODELS[name][0], batch, results)), flush=True)
    print()
    print(NOTES)


HEADERS = [
    "model",
    "batch",
    "predict",
    "camlens",
    "camlens / predict",
    "ELI5 0.16",
    "tf-keras-vis",
    "warm call: predict / camlens",
    "baseline RSS",
    "ru_maxrss: predict / camlens",
]

NOTES = """\
predict, camlens, ELI5, tf-keras-vis: peak RSS increase in MiB over the RSS after
building the model and making the input, over the first two calls (the first
traces or compiles; camlens on TensorFlow runs it eagerly), one fresh process
each. warm call: the peak of a third call over the RSS just before it (memory the
first calls left in the allocator is reused, so this is the steady-state cost).
baseline RSS: the camlens process's RSS before its first call. ru_maxrss: the
first increase read from getrusage (it cannot be reset, see the docstring)."""


def _row(title: str, batch: int, results: dict) -> list:
    def mb(value):
        return "n/a" if value is None else f"{value:.0f}"

    def peak(tool, key="peak_mb"):
        return results.get(tool, {}).get(key)

    return [
        title,
        batch,
        mb(peak("predict")),
        mb(peak("camlens")),
        bench.ratio(peak("camlens"), peak("predict")),
        mb(peak("eli5")),
        mb(peak("tf-keras-vis")),
        f"{mb(peak('predict', 'warm_mb'))} / {mb(peak('camlens', 'warm_mb'))}",
        mb(peak("camlens", "baseline_mb")),
        f"{mb(peak('predict', 'ru_maxrss_mb'))} / {mb(peak('camlens', 'ru_maxrss_mb'))}",
    ]


def child(arguments: dict) -> None:
    """Build the model, then measure the peak RSS of two calls of one tool; print JSON."""
    import json

    name, batch, tool = arguments["model"], arguments["batch"], arguments["tool"]
    call = bench.tool_call(tool, bench.MODELS[name][2])
    model = bench.build_model(name)
    images = bench.random_images(batch)
    reset = bench.reset_peak_rss()
    baseline = bench.rss_status_mb()["VmRSS"]
    ru_before = bench.peak_rss_mb()
    for _ in range(2):
        call(model, images)
    peak = bench.rss_status_mb()["VmHWM"] if reset else bench.peak_rss_mb()
    result = {
        "peak_mb": peak - baseline,
        "baseline_mb": baseline,
        "ru_maxrss_mb": bench.peak_rss_mb() - ru_before,
        "vmhwm_reset": reset,
    }
    if reset:  # a third, warm call: its own peak over the RSS just before it
        bench.reset_peak_rss()
        before = bench.rss_status_mb()["VmRSS"]
        call(model, images)
        result["warm_mb"] = bench.rss_status_mb()["VmHWM"] - before
    print(json.dumps(result))


if __name__ == "__main__":
    bench.main_or_child(main, child)
