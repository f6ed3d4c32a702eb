"""The release a stranger installs: the sdist and the wheel built from it pass
`twine check --strict`, and the wheel, installed with `[jax]` into a fresh
virtual environment outside the source tree, runs `camlens demo` and explains an
image there with the packaged demo model (so the model, the label files and
`py.typed` are in the wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from camlens import __version__

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"


def run(command, cwd, env=None, timeout=600):
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist, and the wheel built from it (`python -m build`'s order)."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT], cwd=out)
    return sorted(out.glob("camlens-*.tar.gz")), sorted(out.glob("camlens-*.whl"))


def test_the_sdist_and_wheel_pass_twine_check(dist):
    sdists, wheels = dist
    assert len(sdists) == 1 and len(wheels) == 1
    output = run([sys.executable, "-m", "twine", "check", "--strict", *sdists, *wheels], ROOT)
    assert output.count("PASSED") == 2


def test_the_wheel_installs_with_jax_and_runs_outside_the_source_tree(dist, tmp_path):
    _, (wheel,) = dist
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    bin_dir = venv / "bin"
    # From pip's cache and the registry; --no-compile: no .pyc files written.
    run(
        [bin_dir / "pip", "install", "--quiet", "--no-compile", "-c", CONSTRAINTS, f"{wheel}[jax]"],
        cwd=tmp_path,
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "KERAS_BACKEND")
    }
    env.update(KERAS_BACKEND="jax", MPLBACKEND="agg")
    work = tmp_path / "work"
    work.mkdir()
    run([bin_dir / "camlens", "demo", "--out", "demo.png", "--count", "2"], work, env)
    with Image.open(work / "demo.png") as picture:
        assert picture.format == "PNG" and picture.width > 200
    check = (
        "import pathlib, sys, camlens, camlens.models, keras\n"
        "from camlens.demo import load_demo_model, make_dataset\n"
        "expl = camlens.explain_prediction(load_demo_model(), make_dataset(1, seed=3).images)\n"
        "print(expl.targets[0].heatmap.shape, keras.backend.backend(), camlens.__version__)\n"
        "print(camlens.models.imagenet_labels()[281])\n"
        "package = pathlib.Path(camlens.__file__).parent\n"
        "print(package.is_relative_to(sys.prefix), (package / 'py.typed').exists())\n"
    )
    lines = run([bin_dir / "python", "-c", check], work, env).splitlines()
    assert lines[-3:] == [f"(16, 16) jax {__version__}", "tabby", "True True"]
