"""Ablation-CAM against the numpy net run with each channel of A zeroed."""

import keras
import numpy as np
import pytest

import camlens
from support.method_references import TARGET, combine, normalized, reference_terms
from support.models import residual_weights
from support.reference import residual_forward, residual_head


@pytest.mark.parametrize("score", ["output", "logit"])
def test_ablationcam_weights_are_the_relative_score_drops(resnet, score):
    doc, a, _ = reference_terms(score)
    f = residual_forward(residual_weights(), doc[0])
    key = "probs" if score == "output" else "logits"
    full = f[key][TARGET]
    weights = []
    for k in range(a.shape[-1]):
        ablated = a.copy()
        ablated[:, :, k] = 0
        dropped = residual_head(residual_weights(), ablated, f["skip"])[key][TARGET]
        weights.append((full - dropped) / abs(full))

    for batch_size in (3, 64):  # the channels in several forward passes, or one
        expl = camlens.explain_prediction(
            resnet,
            doc,
            targets=[TARGET],
            layer="conv1",
            method="ablationcam",
            mask_batch_size=batch_size,
            score=score,
        )
        np.testing.assert_allclose(
            expl.targets[0].heatmap, normalized(combine(a, weights)), atol=2e-5
        )


def test_ablationcam_leaves_the_model_as_it_was(resnet):
    layer = resnet.get_layer("conv1")
    before = [w.copy() for w in resnet.get_weights()]
    camlens.explain_prediction(
        resnet, reference_terms("output")[0], layer="conv1", method="ablationcam"
    )
    assert "call" not in vars(layer)  # the capture's shadow is gone
    assert all(np.array_equal(x, y) for x, y in zip(before, resnet.get_weights()))


def test_ablationcam_passes_the_randomization_check_on_the_demo_model():
    """On the small random net, whose 8 channels look alike, Score-CAM and
    Ablation-CAM keep their maps (rank correlation above 0.9) whatever the head;
    on the trained demo model Ablation-CAM's maps follow the head."""
    from camlens.demo import load_demo_model, make_dataset
    from camlens.metrics import randomization_check

    check = randomization_check(
        load_demo_model(), make_dataset(4, seed=3).images, method="ablationcam"
    )
    assert check.passed, check.correlations


def test_ablationcam_max_channels_ablates_the_channels_of_largest_variance(resnet):
    doc, a, _ = reference_terms("output")
    f = residual_forward(residual_weights(), doc[0])
    chosen = sorted(np.argsort([a[:, :, k].var() for k in range(a.shape[-1])])[-2:])
    weights = np.zeros(a.shape[-1])
    for k in chosen:
        ablated = a.copy()
        ablated[:, :, k] = 0
        weights[k] = (
            1
            - residual_head(residual_weights(), ablated, f["skip"])["probs"][TARGET]
            / f["probs"][TARGET]
        )
    explainer = camlens.Explainer(resnet, layer="conv1", method="ablationcam", max_channels=2)
    heatmap = explainer(doc, targets=[TARGET]).heatmaps[0, 0]
    np.testing.assert_allclose(heatmap, normalized(combine(a, weights)), atol=2e-5)


def test_ablationcam_on_vision_transformer_tokens(vit):
    """A token layer (N, T, C): each channel is zeroed in every token, the class
    token included; the map lies on the patch grid."""
    pytest.importorskip("keras_hub")
    from support import hub as hub_models

    model, x, target = vit, hub_models.images(), 2
    tokens, logits = hub_models.vit_split(model, x)

    def score(tokens):
        return float(keras.ops.convert_to_numpy(logits(tokens))[0, target])

    full = score(tokens)
    weights = []
    for k in range(tokens.shape[-1]):
        ablated = tokens.copy()
        ablated[..., k] = 0
        weights.append((full - score(ablated)) / abs(full))
    grid = tokens[0, 1:].reshape(4, 4, -1)

    maps = camlens.Explainer(model, layer="transformer_block_1", method="ablationcam")(
        x, targets=[target]
    )

    assert maps.heatmaps.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(maps.heatmaps[0, 0], normalized(combine(grid, weights)), atol=1e-4)
