"""smooth="eigen": the first principal component of a method's channel terms, from the numpy net."""

import numpy as np
import pytest

import camlens
from support.method_references import TARGET, normalized, reference_terms


def first_component(part):
    """Projection of non-negative (h, w, C) terms on their first right singular
    vector (numpy's SVD), scaled to the terms' total."""
    matrix = part.reshape(-1, part.shape[-1])
    if not matrix.any():
        return np.zeros(part.shape[:2])
    _, _, vt = np.linalg.svd(matrix, full_matrices=False)
    projection = matrix @ vt[0]
    return (projection * matrix.sum() / projection.sum()).reshape(part.shape[:2])


def eigen_smoothed(terms):
    """The positive terms' first component minus the negative terms', each of their mass."""
    return first_component(np.maximum(terms, 0)) - first_component(np.maximum(-terms, 0))


def xgradcam_terms(a, g):
    totals = a.sum(axis=(0, 1))
    weights = np.where(totals != 0, (a * g).sum(axis=(0, 1)) / np.where(totals != 0, totals, 1), 0)
    return a * weights


TERMS = {
    "gradcam": lambda a, g: a * g.mean(axis=(0, 1)),
    "xgradcam": xgradcam_terms,
    "layercam": lambda a, g: np.maximum(g, 0) * a,
    "hirescam": lambda a, g: g * a,
    "gradcam-elementwise": lambda a, g: np.maximum(g * a, 0),
}


@pytest.mark.parametrize("method", sorted(TERMS))
def test_eigen_smoothing_projects_the_channel_terms(resnet, method):
    doc, a, g = reference_terms("output")
    expected = eigen_smoothed(TERMS[method](a, g))

    smoothed = camlens.explain_prediction(
        resnet, doc, targets=[TARGET], layer="conv1", method=method, smooth="eigen"
    )
    plain = camlens.explain_prediction(resnet, doc, targets=[TARGET], layer="conv1", method=method)

    np.testing.assert_allclose(smoothed.targets[0].heatmap, normalized(expected), atol=2e-5)
    assert np.abs(smoothed.targets[0].heatmap - plain.targets[0].heatmap).max() > 1e-3


def test_signed_eigen_maps_keep_negative_evidence(resnet):
    doc, a, g = reference_terms("output")
    expected = eigen_smoothed(a * g.mean(axis=(0, 1)))
    maps = camlens.Explainer(resnet, layer="conv1", relu=False, smooth="eigen")(
        doc, targets=[TARGET]
    )
    np.testing.assert_allclose(
        maps.heatmaps[0, 0], expected / (np.abs(expected).max() + 1e-7), atol=2e-5
    )


def test_one_pass_for_every_eigen_smoothed_method(resnet):
    doc = reference_terms("output")[0]
    together = camlens.explain_methods(
        resnet, doc, methods=["gradcam", "layercam", "hirescam"], layer="conv1", smooth="eigen"
    )
    for name, maps in together.items():
        alone = camlens.Explainer(resnet, layer="conv1", method=name, smooth="eigen")(doc)
        np.testing.assert_allclose(maps.heatmaps, alone.heatmaps, atol=1e-6)


@pytest.mark.parametrize(
    "method", ["eigencam", "eigengradcam", "segeigencam", "kpcacam", "fem", "guided-gradcam"]
)
def test_methods_that_are_no_channel_sum_refuse_eigen_smoothing(resnet, method):
    with pytest.raises(ValueError, match="smooth='eigen'"):
        camlens.Explainer(resnet, method=method, smooth="eigen")


def test_unknown_smoothing_is_refused(resnet):
    with pytest.raises(ValueError, match="smooth must be None, 'aug' or 'eigen'"):
        camlens.Explainer(resnet, smooth="median")
