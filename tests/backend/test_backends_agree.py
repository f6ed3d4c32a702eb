"""The same weights give the same heatmap on TensorFlow, JAX and PyTorch.

Each pass of the suite runs one backend in-process and the next backend of the
cycle in a subprocess (Keras fixes its backend at import), so over the three
passes every pair is compared.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

import camlens
from support.models import functional_resnet, images

CYCLE = ["tensorflow", "jax", "torch"]
TOLERANCE = 1e-4  # relative to the map's own scale

SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import camlens
from support.models import functional_resnet, images
model = functional_resnet()
expl = camlens.explain_prediction(model, images(2)[1:], targets=[0, 3], layer={layer!r})
print(json.dumps([t.heatmap.tolist() for t in expl.targets]))
"""


def heatmaps_on(backend: str, layer: str) -> np.ndarray:
    tests = str(Path(__file__).parents[1])
    env = dict(os.environ, KERAS_BACKEND=backend)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tests=tests, layer=layer)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return np.array(json.loads(done.stdout.strip().splitlines()[-1]))


def test_heatmaps_agree_with_the_next_backend():
    here = keras.backend.backend()
    other = CYCLE[(CYCLE.index(here) + 1) % len(CYCLE)]
    model = functional_resnet()
    for layer in ("conv1", "merged_relu"):
        expl = camlens.explain_prediction(model, images(2)[1:], targets=[0, 3], layer=layer)
        mine = np.array([t.heatmap for t in expl.targets])
        theirs = heatmaps_on(other, layer)
        relative = np.abs(mine - theirs).max() / np.abs(theirs).max()
        print(f"{here} vs {other} at {layer}: max relative difference {relative:.2e}")
        assert relative < TOLERANCE
