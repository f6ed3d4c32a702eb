"""A real two-node Ray cluster on this machine, as a user starts one.

`ray start --head` and a second `ray start --address=...`, one CPU each, with
`RAY_AUTH_MODE=disabled` so that the second node joins without a token (Ray
2.60). Every port is picked free at run time, and the cluster's files live in a
temporary folder of its own, so that other clusters on the machine are not
disturbed. It is stopped by ending exactly its own processes (those whose
command line names its folder, and their children), not with `ray stop`, which
ends every Ray process of the machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalCluster:
    """A head node and a worker node of `cpus` CPUs each; `address` to join it."""

    def __init__(self, cpus: int = 1):
        self.cpus = cpus
        self.folder = Path(tempfile.mkdtemp(prefix="camlens-ray-", dir="/tmp"))
        self.env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"

    def start(self) -> LocalCluster:
        try:
            self._ray(
                "--head",
                f"--port={self.port}",
                f"--temp-dir={self.folder}",
                "--include-dashboard=false",
                f"--dashboard-port={free_port()}",
                f"--ray-client-server-port={free_port()}",
                f"--dashboard-agent-listen-port={free_port()}",
            )
            self._ray(f"--address={self.address}", f"--dashboard-agent-listen-port={free_port()}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End the cluster's processes (SIGTERM, then SIGKILL) and delete its folder."""
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            pids = self.processes()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while pids and time.monotonic() < deadline:
                pids = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
                time.sleep(0.1)
            if not pids:
                break
        shutil.rmtree(self.folder, ignore_errors=True)

    def processes(self) -> list[int]:
        """The cluster's processes: those whose command line names its folder or its
        address, and their descendants (the workers and agents the raylets start)."""
        table = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    text = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                table[int(entry.name)] = (parent, text)
        address = re.compile(rf"--address=\S+:{self.port}\b")  # the client server names no folder
        ours = {
            pid
            for pid, (_, text) in table.items()
            if str(self.folder) in text or address.search(text)
        }
        grew = True
        while grew:
            children = {pid for pid, (parent, _) in table.items() if parent in ours} - ours
            grew = bool(children)
            ours |= children
        return sorted(ours - {os.getpid()})

    def _ray(self, *arguments: str) -> None:
        command = [str(RAY), "start", f"--num-cpus={self.cpus}", "--num-gpus=0", *arguments]
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
