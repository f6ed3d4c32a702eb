"""The same weights give the same heatmaps on TensorFlow, JAX and PyTorch.

Keras fixes its backend at import, so each backend explains the same seeded
residual net in a process of its own, at the last convolutional layer and at an
earlier one; every pair of backends is compared (DESIGN's bar: relative error
below 1e-4 at the last convolutional layer of a float32 model).
"""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BACKENDS = ["tensorflow", "jax", "torch"]
LAYERS = ["conv1", "merged_relu"]
TOLERANCE = 1e-4  # relative to the map's own scale

SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import camlens
from support.models import functional_resnet, images
model = functional_resnet()
maps = {{}}
for layer in {layers!r}:
    expl = camlens.explain_prediction(model, images(2)[1:], targets=[0, 3], layer=layer)
    maps[layer] = [t.heatmap.tolist() for t in expl.targets]
print(json.dumps(maps))
"""


@pytest.fixture(scope="module")
def heatmaps() -> dict:
    """{backend: {layer: heatmaps (2, h, w)}}, each backend in its own process."""
    tests = str(Path(__file__).parents[1])
    found = {}
    for backend in BACKENDS:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(tests=tests, layers=LAYERS)],
            env=dict(os.environ, KERAS_BACKEND=backend),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        maps = json.loads(done.stdout.strip().splitlines()[-1])
        found[backend] = {layer: np.array(value) for layer, value in maps.items()}
    return found


@pytest.mark.parametrize("first, second", list(itertools.combinations(BACKENDS, 2)))
@pytest.mark.parametrize("layer", LAYERS)
def test_every_pair_of_backends_gives_the_same_maps(heatmaps, first, second, layer):
    mine, theirs = heatmaps[first][layer], heatmaps[second][layer]
    relative = np.abs(mine - theirs).max() / np.abs(theirs).max()
    print(f"{first} vs {second} at {layer}: max relative difference {relative:.2e}")
    assert relative < TOLERANCE
    assert theirs.std() > 0.05  # maps with something on them
