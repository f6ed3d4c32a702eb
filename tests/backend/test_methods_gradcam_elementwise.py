"""Grad-CAM element-wise against sum_k ReLU(g^k A^k), from the numpy net."""

import numpy as np

import camlens
from support.method_references import TARGET, normalized, reference_terms


def test_gradcam_elementwise_sums_the_positive_products(resnet):
    doc, a, g = reference_terms("output")
    raw = np.zeros(a.shape[:2])
    for k in range(a.shape[-1]):
        raw += np.maximum(g[:, :, k] * a[:, :, k], 0)

    expl = camlens.explain_prediction(
        resnet, doc, targets=[TARGET], layer="conv1", method="gradcam-elementwise"
    )

    np.testing.assert_allclose(expl.targets[0].heatmap, normalized(raw), atol=2e-5)
    assert expl.method == "Grad-CAM element-wise"
