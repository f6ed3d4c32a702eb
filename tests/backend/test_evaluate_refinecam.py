"""evaluate: RefineCAM (`refinecam(<method>)` over `layers=`) scored beside the
single-layer methods, its numbers recomputed here from a product written out."""

import numpy as np
import pytest

import camlens
from camlens.metrics import evaluate, randomization_check
from support.deletion import zero_deletion_auc
from support.models import images
from support.multilayer import bilinear, two_scale_model

LAYERS = ["fine", "coarse"]
TARGETS = np.array([1, 2, 0])


def refinecam_maps(model, batch):
    """Layer-CAM at each layer, the coarse maps upsampled to 12x12, multiplied, normalised."""
    fine, coarse = (
        camlens.Explainer(model, layer=name, method="layercam")(batch, TARGETS).heatmaps[:, 0]
        for name in LAYERS
    )
    product = fine * bilinear(coarse, (12, 12))
    return product / (product.max(axis=(1, 2), keepdims=True) + 1e-7)


def test_refinecam_row_scores_the_product_of_the_layers_maps():
    model, batch = two_scale_model(), images(3, seed=8)
    masks = np.zeros((3, 12, 12), bool)
    masks[:, 2:7, 5:11] = True
    result = evaluate(
        model,
        batch,
        methods=["layercam", "refinecam(layercam)"],
        targets=TARGETS,
        masks=masks,
        layer="coarse",
        layers=LAYERS,
        steps=4,
        baseline="zeros",
        randomization_images=2,
        sensitivity_samples=1,
    )
    assert [row.method for row in result.rows] == ["layercam", "refinecam(layercam)", "random"]
    single, refined, _ = result.rows

    expected = refinecam_maps(model, batch)
    peaks = [np.unravel_index(np.argmax(m), m.shape) for m in expected]
    hits = [mask[peak] for mask, peak in zip(masks, peaks)]
    assert refined.pointing_game == pytest.approx(np.mean(hits))
    energy = (expected * masks).sum(axis=(1, 2)) / expected.sum(axis=(1, 2))
    assert refined.energy_pointing_game == pytest.approx(energy.mean(), abs=1e-5)
    assert refined.deletion_auc == pytest.approx(
        zero_deletion_auc(model, batch, expected, TARGETS, 4), abs=1e-5
    )
    assert refined.energy_pointing_game != pytest.approx(single.energy_pointing_game, abs=1e-3)

    check = randomization_check(
        model, batch[:2], method="layercam", layers=LAYERS, combine="product"
    )
    assert refined.randomization_correlation == pytest.approx(np.abs(check.correlations).mean())
    assert refined.randomization_passed == check.passed
    assert refined.max_sensitivity > 0 and np.isfinite(refined.max_sensitivity)
