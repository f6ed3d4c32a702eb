"""LeGrad in the evaluation: its randomization check re-initialises every block it
reads, and `evaluate`'s LeGrad row is recomputed here from LeGrad's own maps."""

import numpy as np
import pytest

import camlens
from camlens.metrics import evaluate, randomization_check
from camlens.model.keras_internals import all_layers, sublayers
from support.deletion import zero_deletion_auc
from support.hub import images
from support.multilayer import bilinear

TARGETS = np.array([1, 3, 0])


def weighted_leaves(layer):
    """Names of the layers with weights and no sub-layers inside `layer`."""
    return [
        inner.name
        for inner in all_layers(layer)
        if not sublayers(inner) and inner.trainable_weights
    ]


def test_legrad_randomization_re_initialises_every_attention_block(vit):
    backbone = vit.backbone
    encoder = backbone.get_layer("vit_encoder")
    check = randomization_check(vit, images(count=2, seed=4), method="legrad")
    expected = [name for block in encoder.encoder_layers for name in weighted_leaves(block)]
    expected += [encoder.layer_norm.name, vit.output_dense.name]
    assert sorted(check.randomized) == sorted(expected)
    embedding = backbone.get_layer("vit_patching_and_embedding")
    assert not set(weighted_leaves(embedding)) & set(check.randomized)  # stays trained

    # Grad-CAM keeps the rule of the layers after the explained one (a block)
    gradcam = randomization_check(vit, images(count=2, seed=4), method="gradcam")
    assert 0 < len(gradcam.randomized) < len(check.randomized)


def test_evaluate_scores_legrad_from_its_maps(vit):
    batch = images(count=3, seed=9)
    masks = np.zeros((3, 64, 64), bool)
    masks[:, 8:40, 20:52] = True
    result = evaluate(
        vit,
        batch,
        methods=["gradcam", "legrad"],
        targets=TARGETS,
        masks=masks,
        steps=4,
        baseline="zeros",
        randomization_images=2,
        sensitivity_samples=1,
    )
    assert [row.method for row in result.rows] == ["gradcam", "legrad", "random"]
    for row in result.rows:
        for name, value in vars(row).items():
            if name != "method" and value is not None:
                assert np.isfinite(float(value)), (row.method, name)
    legrad = result.rows[1]

    maps = camlens.Explainer(vit, method="legrad")(batch, TARGETS).heatmaps[:, 0]
    assert maps.shape == (3, 4, 4) and maps.std() > 0.01
    upsampled = bilinear(maps, (64, 64))
    peaks = [np.unravel_index(np.argmax(m), m.shape) for m in upsampled]
    assert legrad.pointing_game == pytest.approx(np.mean([m[p] for m, p in zip(masks, peaks)]))
    energy = (upsampled * masks).sum(axis=(1, 2)) / upsampled.sum(axis=(1, 2))
    assert legrad.energy_pointing_game == pytest.approx(energy.mean(), abs=1e-5)
    assert legrad.deletion_auc == pytest.approx(
        zero_deletion_auc(vit, batch, upsampled, TARGETS, 4), abs=1e-5
    )
    assert legrad.energy_pointing_game != pytest.approx(
        result.rows[0].energy_pointing_game, abs=1e-4
    )

    check = randomization_check(vit, batch[:2], method="legrad")
    assert legrad.randomization_correlation == pytest.approx(np.abs(check.correlations).mean())
    assert legrad.randomization_passed == check.passed
    assert legrad.max_sensitivity > 0
