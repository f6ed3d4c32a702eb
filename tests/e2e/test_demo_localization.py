"""On the demo data, whose object positions are known, the maps point at the object.

200 generated images from a seed not used in training (the seed of the README's
table); the map of the predicted class must have its maximum in the object's
bounding box (Zhang et al.'s pointing game, here without their tolerance) for at
least 90% of them. A property of the demo model and the methods, checked once
(the backends agree: test_backends_agree).
"""

import pytest

import camlens
from camlens.demo import make_dataset
from camlens.metrics import boxes_to_masks, pointing_game

pytestmark = pytest.mark.slow  # 200 images per method: left out of `pytest -m "not slow"`

COUNT = 200
SEED = 4321  # training used seeds 1 and 2


@pytest.fixture(scope="module")
def demo(demo_model):
    return demo_model, make_dataset(COUNT, seed=SEED)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam", "scorecam"])
def test_pointing_game(demo, method):
    model, data = demo
    maps = camlens.Explainer(model, method=method)(data.images)
    boxes = boxes_to_masks(data.boxes, data.masks.shape[1:])
    hits = pointing_game(maps.heatmaps[:, 0], boxes)
    assert hits.mean() >= 0.9, f"{method}: {hits.mean():.3f}"
