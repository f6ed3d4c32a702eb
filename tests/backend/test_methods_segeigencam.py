"""Seg-Eigen-CAM against an SVD of |g| * A from the numpy net, written in the test."""

import numpy as np

import camlens
from support.method_references import TARGET, normalized, reference_terms


def seg_eigen_reference(a, g):
    """|g| * A, centred over the locations, projected on its first right singular
    vector (numpy's SVD), the sign chosen so that the largest magnitude is positive."""
    matrix = (np.abs(g) * a).reshape(-1, a.shape[-1])
    matrix = matrix - matrix.mean(axis=0)
    _, _, right = np.linalg.svd(matrix, full_matrices=False)
    projection = matrix @ right[0]
    if abs(projection.min()) > abs(projection.max()):
        projection = -projection
    return projection.reshape(a.shape[:2])


def test_segeigencam_is_the_sign_corrected_component_of_gradient_weighted_activations(resnet):
    doc, a, g = reference_terms("output")

    expl = camlens.explain_prediction(
        resnet, doc, targets=[TARGET], layer="conv1", method="segeigencam"
    )

    np.testing.assert_allclose(
        expl.targets[0].heatmap, normalized(seg_eigen_reference(a, g)), atol=2e-5
    )


def test_segeigencam_shares_the_one_pass_of_explain_methods(resnet):
    doc = reference_terms("output")[0]
    together = camlens.explain_methods(
        resnet, doc, methods=["gradcam", "segeigencam"], targets=[0, TARGET], layer="conv1"
    )
    alone = camlens.Explainer(resnet, layer="conv1", method="segeigencam")(doc, targets=[0, TARGET])
    np.testing.assert_allclose(together["segeigencam"].heatmaps, alone.heatmaps, atol=1e-6)
    assert not np.allclose(alone.heatmaps[0, 0], alone.heatmaps[0, 1], atol=1e-3)
