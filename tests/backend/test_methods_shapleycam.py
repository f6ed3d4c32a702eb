"""Shapley-CAM against g - H A / 2, the Hessian product by finite differences of
the numpy net's hand-written gradient."""

import numpy as np
import pytest

import camlens
from support.method_references import (
    TARGET,
    combine,
    gradcam_reference,
    normalized,
    reference_terms,
)
from support.models import residual_weights
from support.reference import head_gradient, residual_forward, residual_head


def gradient_at(a, skip, score):
    return head_gradient(residual_head(residual_weights(), a, skip), TARGET, score)[0]


def test_shapleycam_subtracts_half_the_hessian_product(resnet):
    doc, a, g = reference_terms("output")
    skip = residual_forward(residual_weights(), doc[0])["skip"]
    step = 1e-4
    hessian_a = (
        gradient_at(a * (1 + step), skip, "output") - gradient_at(a * (1 - step), skip, "output")
    ) / (2 * step)
    reference = combine(a, (g - 0.5 * hessian_a).mean(axis=(0, 1)))
    assert not np.allclose(normalized(reference), normalized(gradcam_reference(a, g)), atol=1e-3)

    expl = camlens.explain_prediction(
        resnet, doc, targets=[TARGET], layer="conv1", method="shapleycam"
    )

    np.testing.assert_allclose(expl.targets[0].heatmap, normalized(reference), atol=1e-4)


def test_shapleycam_is_grad_cam_where_the_rest_is_piecewise_linear(resnet):
    """Up to the logit, the net after conv1 is piecewise linear: H A = 0."""
    doc, a, g = reference_terms("logit")
    expl = camlens.explain_prediction(
        resnet, doc, targets=[TARGET], layer="conv1", method="shapleycam", score="logit"
    )
    np.testing.assert_allclose(
        expl.targets[0].heatmap, normalized(gradcam_reference(a, g)), atol=2e-5
    )


def test_shapleycam_on_vision_transformer_tokens(vit):
    """The Hessian product comes back as tokens (N, K, T, C) and is laid out on the
    patch grid like the gradients; reference: the backend's own gradient of the
    last block, its Hessian product by central differences along A."""
    pytest.importorskip("keras_hub")
    from support import hub as hub_models

    model, x, target = vit, hub_models.images(), 2
    tokens, logits = hub_models.vit_split(model, x)

    def score(tokens):
        return logits(tokens)[0, target]

    g = hub_models.gradient(score, tokens)[1]
    step = 1e-3
    hessian_a = (
        hub_models.gradient(score, tokens * (1 + step))[1]
        - hub_models.gradient(score, tokens * (1 - step))[1]
    ) / (2 * step)
    grid = lambda a: a[0, 1:].reshape(4, 4, -1)  # noqa: E731
    a = grid(tokens)
    reference = combine(a, (grid(g) - 0.5 * grid(hessian_a)).mean(axis=(0, 1)))
    assert not np.allclose(
        normalized(reference), normalized(gradcam_reference(a, grid(g))), atol=1e-3
    )

    maps = camlens.Explainer(model, layer="transformer_block_1", method="shapleycam")(
        x, targets=[target]
    )

    assert maps.heatmaps.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(maps.heatmaps[0, 0], normalized(reference), atol=1e-3)


def test_shapleycam_refuses_callable_targets(resnet):
    doc = reference_terms("output")[0]
    with pytest.raises(ValueError, match="not a callable"):
        camlens.Explainer(resnet, layer="conv1", method="shapleycam")(
            doc, targets=[lambda p: p[:, 1]]
        )
