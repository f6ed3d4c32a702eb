"""Each method against its paper's formula, computed independently on the numpy net.

The reference activations A and gradients g come from `tests/reference.py`
(hand-written forward and backward passes), and each formula is written out
here with loops, not with camlens's code.
"""

import numpy as np
import pytest

import camlens
from camlens.methods import METHODS, class_methods
from camlens.resize import interpolation_matrix
from support.method_references import (
    TARGET,
    combine,
    gradcam_reference,
    masked_scores,
    normalized,
    reference_terms,
)
from support.models import CLASSES, SIZE, images, residual_weights
from support.reference import residual_forward, residual_gradcam


def gradcampp_reference(a, g):
    weights = np.zeros(a.shape[-1])
    for k in range(a.shape[-1]):
        total = a[:, :, k].sum()
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                denominator = 2 * g[i, j, k] ** 2 + total * g[i, j, k] ** 3
                alpha = g[i, j, k] ** 2 / denominator if denominator != 0 else 0.0
                weights[k] += alpha * max(g[i, j, k], 0.0)
    return combine(a, weights)


def xgradcam_reference(a, g):
    weights = [
        (a[:, :, k] * g[:, :, k]).sum() / a[:, :, k].sum() if a[:, :, k].sum() else 0.0
        for k in range(a.shape[-1])
    ]
    return combine(a, weights)


def layercam_reference(a, g):
    return sum(np.maximum(g[:, :, k], 0) * a[:, :, k] for k in range(a.shape[-1]))


def hirescam_reference(a, g):
    return sum(g[:, :, k] * a[:, :, k] for k in range(a.shape[-1]))


def eigencam_reference(a, g):
    matrix = a.reshape(-1, a.shape[-1])
    # first right singular vector = top eigenvector of M^T M
    values, vectors = np.linalg.eigh(matrix.T @ matrix)
    projection = matrix @ vectors[:, np.argmax(values)]
    return (projection if projection.sum() >= 0 else -projection).reshape(a.shape[:2])


GRADIENT_REFERENCES = {
    "gradcam": (gradcam_reference, "output"),
    "gradcam++": (gradcampp_reference, "logit"),
    "xgradcam": (xgradcam_reference, "output"),
    "layercam": (layercam_reference, "output"),
    "hirescam": (hirescam_reference, "output"),
    "eigencam": (eigencam_reference, "output"),
}


@pytest.mark.parametrize("method", sorted(GRADIENT_REFERENCES))
def test_method_matches_its_formula(resnet, method):
    formula, score = GRADIENT_REFERENCES[method]
    assert METHODS[method].score == score  # the paper's score is the default
    doc, a, g = reference_terms(score)

    expl = camlens.explain_prediction(resnet, doc, targets=[TARGET], layer="conv1", method=method)

    np.testing.assert_allclose(expl.targets[0].heatmap, normalized(formula(a, g)), atol=2e-5)
    assert expl.method == METHODS[method].title


def test_scorecam_matches_algorithm_1(resnet):
    doc, a, _ = reference_terms("output")
    weights = masked_scores(doc, a, "probs")
    for batch_size in (3, 64):  # the channels in several forward passes, or one
        expl = camlens.explain_prediction(
            resnet,
            doc,
            targets=[TARGET],
            layer="conv1",
            method="scorecam",
            mask_batch_size=batch_size,
        )
        np.testing.assert_allclose(
            expl.targets[0].heatmap, normalized(combine(a, weights)), atol=2e-5
        )


def test_scorecam_with_logits_when_asked(resnet):
    doc, a, _ = reference_terms("logit")
    weights = masked_scores(doc, a, "logits")
    expl = camlens.explain_prediction(
        resnet, doc, targets=[TARGET], layer="conv1", method="scorecam", score="logit"
    )
    np.testing.assert_allclose(expl.targets[0].heatmap, normalized(combine(a, weights)), atol=2e-5)


def test_interpolation_matrix_is_bilinear_with_half_pixel_centres():
    up = interpolation_matrix(4, 2) @ np.array([0.0, 1.0])
    np.testing.assert_allclose(up, [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(interpolation_matrix(5, 5), np.eye(5))


def test_scorecam_upsamples_small_layers(resnet):
    """A layer smaller than the input: masks are upsampled to the input size."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="down")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax")(x))
    heatmap = camlens.explain_prediction(model, images(), method="scorecam").targets[0].heatmap
    assert heatmap.shape == (SIZE // 2, SIZE // 2)
    assert heatmap.min() >= 0 and heatmap.max() <= 1


def test_logit_score_for_grad_cam(resnet):
    doc, a, g = reference_terms("logit")
    expl = camlens.explain_prediction(resnet, doc, targets=[TARGET], layer="conv1", score="logit")
    np.testing.assert_allclose(
        expl.targets[0].heatmap, normalized(gradcam_reference(a, g)), atol=2e-5
    )
    logits = residual_forward(residual_weights(), doc[0])["logits"]
    assert expl.targets[0].score == pytest.approx(logits[TARGET], rel=1e-5)
    dense = resnet.get_layer("predictions")
    assert dense.activation.__name__ == "softmax"  # restored after the capture


def test_relu_false_keeps_negative_evidence(resnet):
    doc = images(seed=21)
    for class_id in range(CLASSES):  # a class whose map has both signs
        _, _, a, g = residual_gradcam(residual_weights(), doc[0], class_id)
        raw = gradcam_reference(a, g)
        if raw.min() < 0 < raw.max():
            break
    heatmap = (
        camlens.explain_prediction(resnet, doc, targets=[class_id], layer="conv1", relu=False)
        .targets[0]
        .heatmap
    )
    np.testing.assert_allclose(heatmap, raw / (np.abs(raw).max() + 1e-7), atol=2e-5)
    assert heatmap.min() < 0 < heatmap.max()
    assert heatmap.min() >= -1 and heatmap.max() <= 1


def test_counterfactual_is_the_negated_gradient(resnet):
    doc, a, g = reference_terms("output")
    heatmap = (
        camlens.explain_prediction(
            resnet, doc, targets=[TARGET], layer="conv1", counterfactual=True
        )
        .targets[0]
        .heatmap
    )
    np.testing.assert_allclose(heatmap, normalized(-gradcam_reference(a, g)), atol=2e-5)


@pytest.mark.parametrize("method", sorted(class_methods()))
def test_every_method_gives_maps_in_range_for_batches_and_targets(resnet, method):
    maps = camlens.Explainer(resnet, method=method)(images(2, seed=4), targets=[0, 2])
    assert maps.heatmaps.shape == (2, 2, SIZE, SIZE)
    assert np.isfinite(maps.heatmaps).all()
    assert maps.heatmaps.min() >= 0 and maps.heatmaps.max() <= 1


@pytest.mark.parametrize(
    "options, error, words",
    [
        (dict(relu="yes"), TypeError, "relu must be"),
        (dict(counterfactual=1), TypeError, "counterfactual must be"),
        (dict(score="probability"), ValueError, "score must be"),
        (dict(mask_batch_size=0), ValueError, "mask_batch_size"),
        (dict(method="eigencam", counterfactual=True), ValueError, "counterfactual"),
    ],
)
def test_bad_options(resnet, options, error, words):
    with pytest.raises(error, match=words):
        camlens.explain_prediction(resnet, images(), **options)


CLASS_AGNOSTIC = ("kpcacam", "fem")


@pytest.mark.parametrize(
    "method",
    [
        "eigengradcam",
        "gradcam-elementwise",
        "finercam",
        "shapleycam",
        "guided-gradcam",
        *CLASS_AGNOSTIC,
    ],
)
def test_randomization_check_on_the_new_methods(method):
    """Class-specific maps change when the layers after the explained one lose their
    weights; maps of the activations alone cannot, and the check says so."""
    from camlens.metrics import randomization_check
    from support.models import functional_resnet

    check = randomization_check(
        functional_resnet(), images(3, seed=12), method=method, layer="conv1"
    )
    if method in CLASS_AGNOSTIC:
        assert not check.passed
        np.testing.assert_allclose(check.correlations, 1.0, atol=1e-6)
    else:
        assert check.passed, check.correlations
