"""Kill-and-resume of a real `camlens audit`: rows before and after, duplicates, and
the time of the killed + resumed runs against one uninterrupted run.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/audit_resume.py
        [--images 1920] [--shard-size 64] [--kill-after 10] [--target both]

A generated demo folder (`camlens.demo.write_folder`: 64x64 PNGs, masks,
labels.csv, the demo model) is audited three ways, each a fresh
`python -m camlens audit ... --no-report` process:

- uninterrupted: one run into its own folder;
- killed: a run into a second folder, sent SIGKILL as soon as its manifest lists
  `--kill-after` finished shards (so the kill lands inside a later shard);
- resumed: the same command again into the second folder;
- and once more on the finished folder (nothing left to do: the start-up and
  the check of the manifest).

Printed: wall times (process start-up included), the rows and shards listed
before the kill, the part files on disk after it, the rows after the resume,
duplicated and missing (index, method, target) keys, and the largest difference
of the resumed folder's maps from the uninterrupted one's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1920)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--kill-after", type=int, default=10, help="finished shards before SIGKILL")
    parser.add_argument("--target", default="both", choices=("top", "label", "both"))
    args = parser.parse_args()
    sys.path.insert(0, str(SRC))
    from camlens.audit import read_records
    from camlens.demo import write_folder

    work = Path(tempfile.mkdtemp(prefix="camlens-resume-"))
    write_folder(work / "data", args.images, seed=9)

    def command(out: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "camlens",
            "audit",
            str(work / "data" / "demo_model.keras"),
            str(work / "data" / "labels.csv"),
            "--out",
            str(out),
            "--shard-size",
            str(args.shard_size),
            "--batch-size",
            str(args.shard_size),
            "--target",
            args.target,
            "--no-report",
        ]

    env = dict(os.environ, PYTHONPATH=str(SRC))
    backend = env.get("KERAS_BACKEND", "tensorflow")
    shards = -(-args.images // args.shard_size)
    print(f"# Kill-and-resume of camlens audit ({backend})")
    print(
        f"{args.images} demo images (64x64 PNG), shards of {args.shard_size} ({shards} shards), "
        f"--target {args.target}, SIGKILL after {args.kill_after} finished shards\n"
    )

    whole = _timed(command(work / "whole"), env)

    manifest = work / "resumed" / "manifest.json"
    start = time.perf_counter()
    process = subprocess.Popen(
        command(work / "resumed"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while process.poll() is None:
        if manifest.exists() and len(_listed(manifest)) >= args.kill_after:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    killed_code = process.wait()
    killed = time.perf_counter() - start
    before = _listed(manifest)
    on_disk = sorted(p.name for p in (work / "resumed" / "records.parquet").iterdir())

    resumed = _timed(command(work / "resumed"), env)
    again = _timed(command(work / "resumed"), env)

    mine = read_records(work / "resumed").to_pandas()
    reference = read_records(work / "whole").to_pandas()
    keys = ["index", "method", "target_kind"]
    duplicated = int(mine.duplicated(keys).sum())
    missing = len(set(map(tuple, reference[keys].values)) - set(map(tuple, mine[keys].values)))
    explained = mine["error"].isna()
    gap = float(
        np.abs(
            np.stack(mine["heatmap"][explained])
            - np.stack(reference["heatmap"][reference["error"].isna()])
        ).max()
    )

    print("| run | wall s | rows listed | shards listed |")
    print("|---|---|---|---|")
    print(f"| uninterrupted | {whole:.1f} | {len(reference)} | {shards} |")
    print(
        f"| killed (SIGKILL, exit {killed_code}) | {killed:.1f} | "
        f"{sum(e['rows'] for e in before.values())} | {len(before)} |"
    )
    print(f"| resumed | {resumed:.1f} | {len(mine)} | {len(_listed(manifest))} |")
    print(
        f"| rerun of the finished folder | {again:.1f} | {len(mine)} | {len(_listed(manifest))} |"
    )
    print()
    print(
        f"part files on disk after the kill: {len(on_disk)} "
        f"({len([n for n in on_disk if n.endswith('.tmp')])} temporary), "
        f"{len(before)} listed"
    )
    print(
        f"after the resume: {len(mine)} rows, {duplicated} duplicated keys, {missing} missing "
        f"keys, maps within {gap:.1e} of the uninterrupted run's"
    )
    print(
        f"killed + resumed: {killed + resumed:.1f} s = {(killed + resumed) / whole:.2f}x the "
        f"uninterrupted {whole:.1f} s (the resumed run alone {resumed / whole:.2f}x)"
    )
    shutil.rmtree(work)


def _timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def _listed(manifest: Path) -> dict:
    try:
        return json.loads(manifest.read_text())["shards"]
    except (OSError, ValueError):  # not written yet
        return {}


if __name__ == "__main__":
    main()
