"""The data-set audit: throughput against a plain decode + predict loop, peak memory
against the number of images, and the Ray engine against the local one.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/audit.py [--quick]
        [--images 1000] [--memory 500,5000] [--ray] [--passes 3]

The images are JPEG files (224x224, quality 90) written once under
`$TMPDIR/camlens-benchmarks/jpegs-N/`: seeded random images smoothed so that they
compress like photos. The model is MobileNetV2 with seeded random weights
(models.py, BatchNorm calibrated); it is saved once as `.keras` for the Ray actors.

- throughput: `camlens.audit(model, folder, out, report=False)` (Grad-CAM of the
  top class, records written) against a loop that decodes the same files as the
  audit does (`camlens.files.images.load_image` + `image_to_doc`) and calls
  `model.predict` on batches of 32. The two alternate `--passes` times after a
  warm-up pass each; the table gives images/s of the median pass and the ratio.
- peak memory: one fresh process per image count audits that many files and
  reports its peak RSS (VmHWM) over the RSS after building the model.
- Ray (`--ray`): the same audit with `engine="ray"` on `ray.init(num_cpus=2)`,
  one actor, in the same alternation. Each call starts a new actor (a process
  that imports the backend, loads the model and traces), so the end-to-end rate
  counts that start-up in every pass; an audit of the first 64 files, also run
  each pass, gives the steady rate without it, (N - 64) / (t_N - t_64), and the
  start-up, t_64 - 64 / steady rate.

`--quick`: 256 images, memory 256 vs 1024, 1 pass.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import models as bench

BATCH = 32
RAY = "audit (ray, 1 actor), end to end"
RAY_SHORT = "audit (ray, 1 actor), first 64 files"
RAY_FEW = 64


def main() -> None:
    parser = bench.argument_parser(__doc__, quick="256 images, memory 256 vs 1024", full=None)
    parser.add_argument("--images", type=int, default=None, help="images (default 1000)")
    parser.add_argument("--memory", default=None, help="image counts of the memory runs")
    parser.add_argument("--passes", type=int, default=None, help="passes of each (default 3)")
    parser.add_argument("--ray", action="store_true", help="also the Ray engine on 2 CPUs")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    count = args.images or (256 if args.quick else 1000)
    passes = args.passes or (1 if args.quick else 3)
    memory = [
        int(n) for n in (args.memory or ("256,1024" if args.quick else "500,5000")).split(",")
    ]
    bench.header("Data-set audit (MobileNetV2, 224x224 JPEG files)", args.quick)
    model_file = _model_file()
    if not args.skip_throughput:
        _throughput(model_file, _jpegs(count), passes, args.ray)
    print("\npeak RSS over the RSS after the model is built (fresh process per row):\n")
    print(bench.table(["images", "peak RSS MiB", "images/s"], []), flush=True)
    for n in memory:
        folder = _jpegs(n)
        result = bench.run_child(
            __file__, {"folder": str(folder), "model": str(model_file)}, timeout=3600
        )
        if "error" in result:
            print(f"memory run failed: {result['error']}", file=sys.stderr)
            continue
        print(bench.row([n, f"{result['peak_mb']:.0f}", f"{result['rate']:.1f}"]), flush=True)


def _throughput(model_file: Path, folder: Path, passes: int, with_ray: bool) -> None:
    from camlens.files.models import load_model

    model = load_model(model_file)
    files = sorted(folder.glob("*.jpg"))
    calls = {
        "decode + predict": lambda: _plain_loop(model, files),
        "audit (local)": lambda: _audit(model, folder),
    }
    if with_ray:
        import logging

        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        ray.data.DataContext.get_current().enable_progress_bars = False
        few = _subset(folder, RAY_FEW)
        calls[RAY] = lambda: _audit(model_file, folder, engine="ray", concurrency=1)
        calls[RAY_SHORT] = lambda: _audit(model_file, few, engine="ray", concurrency=1)
    seconds = {name: [] for name in calls}
    for call in calls.values():  # warm-up: traces, Ray start-up
        call()
    for _ in range(passes):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
    print(f"\n{len(files)} files, batches of {BATCH}, median of {passes} passes:\n")
    reference = len(files) / statistics.median(seconds["decode + predict"])
    local = len(files) / statistics.median(seconds["audit (local)"])
    rates = {
        name: len(files) / statistics.median(values)
        for name, values in seconds.items()
        if name != RAY_SHORT
    }
    if with_ray:
        extra = [long - short for long, short in zip(seconds[RAY], seconds[RAY_SHORT])]
        steady = (len(files) - RAY_FEW) / statistics.median(extra)
        rates["audit (ray, 1 actor), start-up excluded"] = steady
    rows = [
        [name, f"{rate:.1f}", bench.ratio(rate, reference), bench.ratio(rate, local)]
        for name, rate in rates.items()
    ]
    print(
        bench.table(["run", "images/s", "vs decode + predict", "vs local audit"], rows), flush=True
    )
    if with_ray:
        startup = statistics.median(seconds[RAY_SHORT]) - RAY_FEW / steady
        print(
            f"\nRay actor start-up (process, backend import, model load, trace): "
            f"{startup:.1f} s per audit",
            flush=True,
        )


def _plain_loop(model, files) -> None:
    from camlens.files.images import image_to_doc, load_image

    for start in range(0, len(files), BATCH):
        batch = np.concatenate(
            [image_to_doc(load_image(p), model) for p in files[start : start + BATCH]]
        )
        model.predict(batch, batch_size=BATCH, verbose=0)


def _audit(model, folder: Path, **options) -> None:
    import camlens

    out = Path(tempfile.mkdtemp(prefix="camlens-audit-bench-"))
    try:
        camlens.audit(
            model, folder, out / "out", batch_size=BATCH, report=False, progress=False, **options
        )
    finally:
        shutil.rmtree(out)


def _child(arguments: dict) -> None:
    import json

    from camlens.files.models import load_model

    model = load_model(Path(arguments["model"]))
    bench.reset_peak_rss()
    baseline = bench.rss_status_mb()["VmRSS"]
    count = len(list(Path(arguments["folder"]).glob("*.jpg")))
    start = time.perf_counter()
    _audit(model, Path(arguments["folder"]))
    rate = count / (time.perf_counter() - start)
    print(json.dumps({"peak_mb": bench.rss_status_mb()["VmHWM"] - baseline, "rate": rate}))


def _model_file() -> Path:
    path = (
        Path(tempfile.gettempdir())
        / "camlens-benchmarks"
        / f"audit-mobilenetv2-{bench.backend()}.keras"
    )
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"partial-{path.name}")
        bench.build_model("mobilenetv2").save(partial)
        partial.replace(path)
    return path


def _subset(folder: Path, count: int) -> Path:
    """A folder of links to the first `count` files of `folder`."""
    subset = folder.with_name(f"{folder.name}-first-{count}")
    subset.mkdir(exist_ok=True)
    for path in sorted(folder.glob("*.jpg"))[:count]:
        if not (subset / path.name).exists():
            (subset / path.name).symlink_to(path)
    return subset


def _jpegs(count: int) -> Path:
    """`count` seeded JPEG files, written once."""
    from PIL import Image, ImageFilter

    folder = Path(tempfile.gettempdir()) / "camlens-benchmarks" / f"jpegs-{count}"
    if len(list(folder.glob("*.jpg"))) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for n in range(count):
        pixels = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(3))
        image.save(folder / f"{n:05d}.jpg", quality=90)
    return folder


if __name__ == "__main__":
    bench.main_or_child(main, _child)
