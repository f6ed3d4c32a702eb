"""The audit with concepts against the audit without, and its peak memory against
the number of images.

Usage:
    KERAS_BACKEND=torch PYTHONPATH=src python benchmarks/audit_concepts.py [--quick]
        [--images 2000] [--memory 1000,10000] [--passes 3] [--mobilenet 500]

- time: `camlens.audit(model, folder, out, concepts=5, report=False)` against the
  same audit without concepts, over `--images` PNG files of the demo shapes (64 x 64,
  `camlens.demo.write_folder`, the shipped demo model: Grad-CAM of the top class at
  `last_conv`, 16 x 16 x 64). The two alternate `--passes` times after one warm-up
  each; the table gives the median wall time, images/s and the ratio. With
  concepts the maps' probe pass also takes the class logit's gradient (a second
  backward pass over the same forward), the audit stores the arrays, and learns
  the concepts at the end (one epoch of `MiniBatchNMF` per class over 64 sampled
  positions per image, then every image's coefficients).
- `--mobilenet N`: the same pair on N 224 x 224 JPEG files with MobileNetV2 (seeded
  random weights, `models.py`), where the model's passes dominate.
- peak memory: one fresh process per image count audits that many files with
  `concepts=5` and reports its peak RSS (VmHWM) over the RSS after loading the
  model, and the disk the concept arrays took at their largest.

`--quick`: 256 images, memory 256 vs 1024, 1 pass.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import models as bench

CONCEPTS = 5
BATCH = 32


def main() -> None:
    parser = bench.argument_parser(__doc__, quick="256 images, memory 256 vs 1024", full=None)
    parser.add_argument("--images", type=int, default=None, help="images (default 2000)")
    parser.add_argument("--memory", default=None, help="image counts of the memory runs")
    parser.add_argument("--passes", type=int, default=None, help="passes of each (default 3)")
    parser.add_argument("--mobilenet", type=int, default=0, help="also MobileNetV2 on N JPEGs")
    parser.add_argument("--skip-time", action="store_true")
    args = parser.parse_args()
    count = args.images or (256 if args.quick else 2000)
    passes = args.passes or (1 if args.quick else 3)
    memory = [
        int(n) for n in (args.memory or ("256,1024" if args.quick else "1000,10000")).split(",")
    ]
    bench.header("Audit with concepts (demo shapes, PNG files)", args.quick)
    if not args.skip_time:
        folder, model = _shapes(count)
        _compare(f"{count} demo-shape files, demo model", model, folder, passes)
        if args.mobilenet:
            from audit import _jpegs, _model_file

            _compare(
                f"{args.mobilenet} JPEG files 224 x 224, MobileNetV2",
                _model_file(),
                _jpegs(args.mobilenet),
                passes,
            )
    print(
        f"\npeak RSS over the RSS after loading the model, concepts={CONCEPTS} "
        "(fresh process per row):\n"
    )
    print(bench.table(["images", "peak RSS MiB", "images/s", "concept arrays MiB"], []))
    for n in memory:
        folder, model = _shapes(n)
        result = bench.run_child(__file__, {"folder": str(folder), "model": str(model)}, 7200)
        if "error" in result:
            print(f"memory run failed: {result['error']}", file=sys.stderr)
            continue
        cells = [n, f"{result['peak_mb']:.0f}", f"{result['rate']:.1f}"]
        print(bench.row(cells + [f"{result['arrays_mb']:.0f}"]), flush=True)


def _compare(title: str, model_file: Path, folder: Path, passes: int) -> None:
    from camlens.files.models import load_model

    model = load_model(model_file)
    count = _count(folder)
    calls = {
        "audit": lambda: _audit(model, folder),
        f"audit, concepts={CONCEPTS}": lambda: _audit(model, folder, concepts=CONCEPTS),
    }
    seconds = {name: [] for name in calls}
    for call in calls.values():  # warm-up: traces
        call()
    for _ in range(passes):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
    print(f"\n{title}, batches of {BATCH}, median of {passes} passes:\n")
    base = statistics.median(seconds["audit"])
    rows = [
        [name, f"{statistics.median(s):.1f}", f"{count / statistics.median(s):.1f}",
         bench.ratio(statistics.median(s), base)]
        for name, s in seconds.items()
    ]  # fmt: skip
    print(bench.table(["run", "seconds", "images/s", "time vs audit"], rows), flush=True)


def _audit(model, folder: Path, **options) -> None:
    import camlens

    out = Path(tempfile.mkdtemp(prefix="camlens-concepts-bench-"))
    try:
        camlens.audit(
            model,
            folder / "labels.csv" if (folder / "labels.csv").exists() else folder,
            out / "out",
            batch_size=BATCH,
            report=False,
            progress=False,
            **options,
        )
    finally:
        shutil.rmtree(out)


def _child(arguments: dict) -> None:
    import json
    import threading

    import camlens
    from camlens.files.models import load_model

    folder = Path(arguments["folder"])
    model = load_model(Path(arguments["model"]))
    bench.reset_peak_rss()
    baseline = bench.rss_status_mb()["VmRSS"]
    count = _count(folder)
    out = Path(tempfile.mkdtemp(prefix="camlens-concepts-memory-"))
    largest, done = [0], threading.Event()

    def watch_disk():  # the concept arrays' folder, at its largest
        while not done.wait(0.5):
            arrays = out / "out" / "concept-arrays"
            if arrays.exists():
                size = sum(p.stat().st_size for p in arrays.iterdir() if p.is_file())
                largest[0] = max(largest[0], size)

    watcher = threading.Thread(target=watch_disk, daemon=True)
    watcher.start()
    start = time.perf_counter()
    try:
        camlens.audit(
            model,
            folder / "labels.csv",
            out / "out",
            batch_size=BATCH,
            report=False,
            progress=False,
            concepts=CONCEPTS,
        )
    finally:
        done.set()
        shutil.rmtree(out)
    rate = count / (time.perf_counter() - start)
    print(
        json.dumps(
            {
                "peak_mb": bench.rss_status_mb()["VmHWM"] - baseline,
                "rate": rate,
                "arrays_mb": largest[0] / 2**20,
            }
        )
    )


def _shapes(count: int) -> tuple[Path, Path]:
    """`count` demo-shape PNG files, their labels.csv and the demo model, written once."""
    from camlens.demo import write_folder

    folder = Path(tempfile.gettempdir()) / "camlens-benchmarks" / f"shapes-{count}"
    if not (folder / "labels.csv").exists():
        partial = folder.with_name(f"partial-{folder.name}")
        shutil.rmtree(partial, ignore_errors=True)
        write_folder(partial, count, seed=77)
        shutil.rmtree(folder, ignore_errors=True)
        partial.replace(folder)
    return folder, folder / "demo_model.keras"


def _count(folder: Path) -> int:
    table = folder / "labels.csv"
    if table.exists():
        return len(table.read_text().splitlines()) - 1
    return len(list(folder.glob("*.jpg")))


if __name__ == "__main__":
    bench.main_or_child(main, _child)
