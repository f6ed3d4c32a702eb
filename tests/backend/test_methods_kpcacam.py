"""KPCA-CAM against scikit-learn's kernel PCA of the numpy net's activations."""

import numpy as np
from sklearn.decomposition import KernelPCA

import camlens
from support.method_references import normalized, reference_terms


def test_kpcacam_is_the_first_kernel_principal_component(resnet):
    doc, a, _ = reference_terms("output")
    matrix = a.reshape(-1, a.shape[-1])
    centred = matrix - matrix.mean(axis=0)  # as the paper's code (pytorch-grad-cam) does
    projection = KernelPCA(n_components=1, kernel="sigmoid").fit_transform(centred)[:, 0]
    totals = matrix.sum(axis=1)
    if np.corrcoef(projection, totals)[0, 1] < 0:  # camlens's sign: along the total activation
        projection = -projection

    expl = camlens.explain_prediction(resnet, doc, layer="conv1", method="kpcacam")

    np.testing.assert_allclose(
        expl.targets[0].heatmap, normalized(projection.reshape(a.shape[:2])), atol=1e-4
    )
