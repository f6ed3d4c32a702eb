"""The audit on a real two-node Ray cluster: two single-CPU actors against one, and
the driver's write rate, the ceiling for N actors.

Usage:
    KERAS_BACKEND=torch PYTHONPATH=src python benchmarks/ray_cluster.py [--quick]
        [--images 1000] [--passes 2]

The cluster is the tests' (`tests/support/ray_cluster.py`): `ray start --head` and a
second `ray start --address=...` on this machine, one CPU each, free ports, its own
temporary folder; this process joins it as a driver and stops it at the end. The
data are `--images` PNG files of the demo shapes (64 x 64) and the shipped demo
model (Grad-CAM of the top class at `last_conv`).

- actors: `camlens.audit(..., engine="ray", concurrency=1)` and `concurrency=2`,
  alternating, `--passes` times after one warm-up each. Each audit starts its
  actors afresh (a process that imports the backend, loads the model, traces), so
  an audit of the first 64 files is run beside each and the steady rate is
  (N - 64) / (t_N - t_64); the table gives both, and the start-up.
- driver: the records of an audit read back and written again with the audit's
  writer, shard by shard (Arrow rows to Python, Parquet encoding, atomic write and
  manifest, as `run_ray` does with what the actors return): images/s, the most
  any number of actors can deliver through one driver.

`--quick`: 256 images, 1 pass.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import models as bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.ray_cluster import LocalCluster  # noqa: E402

FEW = 64
BATCH = 32


def main() -> None:
    import os

    parser = bench.argument_parser(__doc__, quick="256 images, 1 pass", full=None)
    parser.add_argument("--images", type=int, default=None, help="images (default 1000)")
    parser.add_argument("--passes", type=int, default=None, help="passes of each (default 2)")
    args = parser.parse_args()
    count = args.images or (256 if args.quick else 1000)
    passes = args.passes or (1 if args.quick else 2)
    bench.header("Audit on a two-node Ray cluster (demo shapes, PNG files)", args.quick)
    from audit_concepts import _shapes

    folder, model_file = _shapes(count)
    few = _first(folder, FEW)
    os.environ.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    import ray

    with LocalCluster(cpus=1) as cluster:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            nodes = len([n for n in ray.nodes() if n["Alive"]])
            print(f"cluster: {nodes} nodes, {ray.cluster_resources().get('CPU')} CPUs\n")
            _actors(model_file, folder, few, count, passes)
            _driver(model_file, folder)
        finally:
            ray.shutdown()


def _actors(model_file: Path, folder: Path, few: Path, count: int, passes: int) -> None:
    calls = {}
    for actors in (1, 2):
        calls[actors, "all"] = lambda a=actors: _audit(model_file, folder, a)
        calls[actors, "few"] = lambda a=actors: _audit(model_file, few, a)
    seconds = {key: [] for key in calls}
    for call in calls.values():  # warm-up: the nodes' first imports, file caches
        call()
    for _ in range(passes):
        for key, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[key].append(time.perf_counter() - start)
    print(f"{count} files, batches of {BATCH}, median of {passes} passes:\n")
    rows, steady = [], {}
    for actors in (1, 2):
        whole = statistics.median(seconds[actors, "all"])
        extra = [a - b for a, b in zip(seconds[actors, "all"], seconds[actors, "few"])]
        steady[actors] = (count - FEW) / statistics.median(extra)
        startup = statistics.median(seconds[actors, "few"]) - FEW / steady[actors]
        rows.append(
            [
                f"{actors} actor{'s' if actors > 1 else ''}",
                f"{count / whole:.1f}",
                f"{steady[actors]:.1f}",
                f"{startup:.1f}",
                bench.ratio(steady[actors], steady[1]),
            ]
        )
    headers = ["actors", "images/s end to end", "images/s steady", "start-up s", "steady vs 1"]
    print(bench.table(headers, rows), flush=True)


def _driver(model_file: Path, folder: Path) -> None:
    """Records of a local audit, written again shard by shard as the driver does."""
    import camlens
    from camlens.audit import read_records
    from camlens.audit.writer import ShardWriter, records_table

    work = Path(tempfile.mkdtemp(prefix="camlens-driver-bench-"))
    try:
        camlens.audit(model_file, folder / "labels.csv", work / "local", progress=False,
                      report=False, batch_size=BATCH)  # fmt: skip
        table = read_records(work / "local")
        shards = [table.filter(table.column("shard").to_numpy() == s) for s in
                  sorted(set(table.column("shard").to_pylist()))]  # fmt: skip
        writer = ShardWriter(work / "again", {"model": "m", "data": "d", "options": {}})
        start = time.perf_counter()
        images = 0
        for number, shard in enumerate(shards):
            records = records_table(shard.to_pylist()).to_pylist()  # as iter_batches hands them
            writer.write(number, records)
            images += len({r["index"] for r in records})
        seconds = time.perf_counter() - start
        writer.close()
    finally:
        shutil.rmtree(work)
    print(
        f"\ndriver: {images} images' records written again in {seconds:.2f} s: "
        f"{images / seconds:.0f} images/s, the ceiling of any number of actors",
        flush=True,
    )


def _audit(model_file: Path, folder: Path, actors: int) -> None:
    import camlens

    out = Path(tempfile.mkdtemp(prefix="camlens-ray-bench-"))
    try:
        camlens.audit(
            model_file,
            folder / "labels.csv",
            out / "out",
            engine="ray",
            concurrency=actors,
            batch_size=BATCH,
            report=False,
            progress=False,
        )
    finally:
        shutil.rmtree(out)


def _first(folder: Path, count: int) -> Path:
    """A folder whose labels.csv lists the first `count` files of `folder`'s."""
    subset = folder.with_name(f"{folder.name}-first-{count}")
    subset.mkdir(exist_ok=True)
    lines = (folder / "labels.csv").read_text().splitlines()
    header, rows = lines[0], lines[1 : count + 1]
    absolute = []
    for row in rows:  # path, label, mask: the files named from the new folder
        path, label, mask = row.split(",")
        absolute.append(f"{folder / path},{label},{folder / mask if mask else ''}")
    (subset / "labels.csv").write_text("\n".join([header, *absolute]) + "\n")
    return subset


if __name__ == "__main__":
    main()
