"""The command line keeps the terminal clean: no backend start-up logs unless --verbose."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import camlens as package
from support.models import SIZE, functional_resnet, images

BACKEND = keras.backend.backend()
SOURCES = os.path.dirname(os.path.dirname(package.__file__))  # these sources, from any folder


def camlens(*argv, cwd):
    return subprocess.run(
        [sys.executable, "-m", "camlens", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**os.environ, "KERAS_BACKEND": BACKEND, "PYTHONPATH": SOURCES},
    )


def test_demo_prints_only_what_it_wrote(tmp_path):
    done = camlens("demo", "--count", 1, "--out", "d.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == "wrote d.png\n"


def test_explain_prints_only_its_result(tmp_path):
    inputs = keras.Input((SIZE, SIZE, 3))  # files hold 0..255, the network takes 0..1
    scaled = keras.Model(inputs, functional_resnet()(keras.layers.Rescaling(1 / 255)(inputs)))
    scaled.save(tmp_path / "m.keras")
    Image.fromarray((images(1)[0] * 255).astype(np.uint8)).save(tmp_path / "p.png")
    done = camlens("explain", "m.keras", "p.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[0].startswith("p.png: class ")
    assert done.stdout.splitlines()[-1] == "wrote p-camlens.png"


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow is the backend that logs at start")
def test_verbose_keeps_the_logs(tmp_path):
    done = camlens("demo", "--count", 1, "--out", "d.png", "--verbose", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr != ""
