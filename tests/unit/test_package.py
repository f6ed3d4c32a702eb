"""`import camlens` is light: public names and subpackages load on first use."""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import camlens


def test_import_loads_no_backend():
    code = "import sys, camlens; print('keras' in sys.modules, camlens.__version__)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", camlens.__version__]


def test_the_command_line_parses_its_options_without_a_backend():
    # the CLI holds the backend's start-up logs back; importing Keras while parsing
    # (e.g. to check `--count`) would print them before that
    code = (
        "import sys; from camlens.cli.parser import build_parser; "
        "build_parser().parse_args(['demo', '--count', '2']); print('keras' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]


def test_every_public_name_resolves():
    for name in camlens.__all__:
        assert getattr(camlens, name).__name__ == name
        assert name in dir(camlens)
    assert camlens.explain_prediction is camlens.api.prediction.explain_prediction


def test_subpackages_load_on_use():
    assert "gradcam" in camlens.methods.METHODS


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = camlens.nope


def test_the_version_is_the_installed_distributions():
    """pyproject.toml says the version once; `camlens.__version__` reads it back."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    declared = re.search(r'^version = "(.+)"$', pyproject.read_text(), re.MULTILINE)[1]
    assert camlens.__version__ == importlib.metadata.version("camlens") == declared
