"""Run every benchmark for the current Keras backend, one after the other.

Usage:
    cd /path/to/camlens
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/run_all.py [--quick | --full]
        [--only latency,cold,memory,throughput,scorecam] [--out results.md]

Each script runs in its own process with the same `--quick` / `--full` flag; its
tables (stdout) are printed as they come and, with `--out`, also written to a
file. Library warnings (stderr) are left out unless a script fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

SCRIPTS = ["latency", "cold", "memory", "throughput", "scorecam"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="smoke run, ~1 min per script")
    group.add_argument("--full", action="store_true", help="more repetitions, no caps")
    parser.add_argument(
        "--only", default=None, help="comma-separated subset of " + ",".join(SCRIPTS)
    )
    parser.add_argument("--out", default=None, help="also write the tables to this file")
    args = parser.parse_args()
    scripts = SCRIPTS if args.only is None else [s.strip() for s in args.only.split(",")]
    unknown = sorted(set(scripts) - set(SCRIPTS))
    if unknown:
        raise SystemExit(f"--only: unknown {unknown}; choose from {SCRIPTS}")
    flags = ["--quick"] if args.quick else ["--full"] if args.full else []
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    output = []
    failed = []
    for script in scripts:
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, os.path.join(here, f"{script}.py"), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        lines = []
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        stderr = process.stderr.read()
        code = process.wait()
        footer = f"({script}.py: {time.perf_counter() - start:.0f} s)\n"
        print(footer, flush=True)
        output += lines + [footer, "\n"]
        if code != 0:
            failed.append(script)
            print(f"{script}.py failed with exit code {code}:\n{stderr[-3000:]}", file=sys.stderr)
    if args.out:
        with open(args.out, "w") as file:
            file.writelines(output)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
