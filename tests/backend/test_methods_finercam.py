"""Finer-CAM against Grad-CAM weights of sum_d (y_c - y_d), from the numpy net."""

import numpy as np
import pytest

import camlens
from support.method_references import combine, normalized
from support.models import images, residual_weights
from support.reference import residual_forward, residual_gradcam


def finer_reference(doc, target):
    logits = residual_forward(residual_weights(), doc[0])["logits"]
    similar = [c for c in np.argsort(-logits) if c != target][:3]
    a, g = residual_gradcam(residual_weights(), doc[0], target, "logit")[2:]
    difference = sum(
        g - residual_gradcam(residual_weights(), doc[0], int(d), "logit")[3] for d in similar
    )
    return normalized(combine(a, difference.mean(axis=(0, 1))))


@pytest.mark.parametrize("target", [None, 0])  # the top class, and one that is not
def test_finercam_explains_the_difference_with_the_most_similar_classes(resnet, target):
    doc = images(seed=21)
    logits = residual_forward(residual_weights(), doc[0])["logits"]
    explained = int(np.argmax(logits)) if target is None else target

    maps = camlens.Explainer(resnet, layer="conv1", method="finercam")(
        doc, targets=None if target is None else [target]
    )

    np.testing.assert_allclose(maps.heatmaps[0, 0], finer_reference(doc, explained), atol=2e-5)
    assert maps.targets.shape == maps.scores.shape == (1, 1)  # the compared classes stay inside
    assert maps.targets[0, 0] == explained
    assert maps.scores[0, 0] == pytest.approx(logits[explained], rel=1e-5)  # logit by default


def test_finercam_needs_class_ids(resnet):
    with pytest.raises(ValueError, match="class ids as targets"):
        camlens.Explainer(resnet, method="finercam")(images(), targets=[lambda out: out[:, 0]])
