"""The README's complete Python examples (fenced ```python run) run on this backend."""

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import camlens

README = Path(__file__).resolve().parents[2] / "README.md"
SOURCES = os.path.dirname(os.path.dirname(camlens.__file__))
RUNNABLE = re.compile(r"^```python run[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def runnable_blocks() -> list[str]:
    return RUNNABLE.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_runnable_examples():
    assert len(runnable_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(runnable_blocks())))
def test_example_runs(index, tmp_path):
    code = runnable_blocks()[index]
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={
            **os.environ,
            "KERAS_BACKEND": keras.backend.backend(),
            "PYTHONPATH": SOURCES,
            "MPLBACKEND": "agg",
        },
    )
    first_line = code.strip().splitlines()[0]
    assert done.returncode == 0, (
        f"README example {index} ({first_line!r}) failed:\n{done.stderr[-4000:]}"
    )
