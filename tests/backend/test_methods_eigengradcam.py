"""Eigen-Grad-CAM against the first principal component of A * g, from the numpy net."""

import numpy as np

import camlens
from support.method_references import TARGET, normalized, reference_terms


def test_eigengradcam_is_the_first_component_of_activations_times_gradients(resnet):
    doc, a, g = reference_terms("output")
    matrix = (a * g).reshape(-1, a.shape[-1])
    values, vectors = np.linalg.eigh(matrix.T @ matrix)  # top eigenvector of M^T M
    projection = matrix @ vectors[:, np.argmax(values)]
    projection = projection if projection.sum() >= 0 else -projection

    expl = camlens.explain_prediction(
        resnet, doc, targets=[TARGET], layer="conv1", method="eigengradcam"
    )

    np.testing.assert_allclose(
        expl.targets[0].heatmap, normalized(projection.reshape(a.shape[:2])), atol=2e-5
    )


def test_eigengradcam_depends_on_the_target(resnet):
    maps = camlens.Explainer(resnet, layer="conv1", method="eigengradcam")(
        reference_terms("output")[0], targets=[0, 1]
    )
    assert not np.allclose(maps.heatmaps[0, 0], maps.heatmaps[0, 1], atol=1e-3)
