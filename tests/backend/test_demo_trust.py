"""Grad-CAM on the demo model passes the checks that tell a faithful map."""

import numpy as np
import pytest

import camlens
from camlens.demo import make_dataset
from camlens.metrics import deletion, insertion, randomization_check

SEED = 4321  # not a training seed


@pytest.fixture(scope="module")
def demo(demo_model):
    return demo_model, make_dataset(30, seed=SEED)


def test_grad_cam_passes_the_randomization_check(demo):
    model, data = demo
    check = randomization_check(model, data.images[:8], method="gradcam")
    assert check.randomized == ["predictions"]
    assert check.passed, check.correlations


def test_grad_cam_beats_random_maps_on_deletion_and_insertion(demo):
    model, data = demo
    heatmaps = np.concatenate(
        [
            camlens.Explainer(model)(
                data.images[n : n + 1], targets=[int(data.labels[n])]
            ).heatmaps[:, 0]
            for n in range(len(data.labels))
        ]
    )
    random = np.random.default_rng(0).uniform(size=heatmaps.shape)
    gradcam_deletion = deletion(model, data.images, heatmaps, data.labels, steps=8).auc.mean()
    random_deletion = deletion(model, data.images, random, data.labels, steps=8).auc.mean()
    gradcam_insertion = insertion(model, data.images, heatmaps, data.labels, steps=8).auc.mean()
    random_insertion = insertion(model, data.images, random, data.labels, steps=8).auc.mean()
    assert gradcam_deletion < random_deletion - 0.15
    assert gradcam_insertion > random_insertion + 0.15
