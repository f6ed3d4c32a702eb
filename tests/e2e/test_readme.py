"""The complete Python examples (fenced ```python run) of the README and of the
documentation site's pages run on this backend."""

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import camlens

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
SOURCES = os.path.dirname(os.path.dirname(camlens.__file__))
RUNNABLE = re.compile(r"^```python run[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def runnable_blocks(pages=PAGES) -> list[tuple[str, str]]:
    """(where, code) of every ```python run block, where is the page and number."""
    return [
        (f"{page.relative_to(ROOT)} #{n}", code)
        for page in pages
        for n, code in enumerate(RUNNABLE.findall(page.read_text(encoding="utf-8")))
    ]


def test_the_readme_has_runnable_examples():
    assert len(runnable_blocks([README])) >= 2


@pytest.mark.parametrize("where, code", runnable_blocks(), ids=[w for w, _ in runnable_blocks()])
def test_example_runs(where, code, tmp_path):
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
    assert done.returncode == 0, f"example {where} ({first_line!r}) failed:\n{done.stderr[-4000:]}"
