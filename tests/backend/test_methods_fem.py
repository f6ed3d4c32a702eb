"""FEM against its k-sigma rule, written out channel by channel."""

import numpy as np

import camlens
from support.method_references import normalized, reference_terms


def test_fem_weights_the_k_sigma_masks_by_the_channel_means(resnet):
    doc, a, _ = reference_terms("output")
    raw = np.zeros(a.shape[:2])
    for k in range(a.shape[-1]):
        channel = a[:, :, k]
        mean = channel.sum() / channel.size
        deviation = np.sqrt(((channel - mean) ** 2).sum() / channel.size)
        raw += mean * (channel >= mean + 2 * deviation)
    assert 0 < (raw > 0).mean() < 0.5  # the masks keep some locations, not all

    maps = camlens.Explainer(resnet, layer="conv1", method="fem")(doc, targets=[0, 3])

    for slot in range(2):  # class-agnostic: the same map for every target
        np.testing.assert_allclose(maps.heatmaps[0, slot], normalized(raw), atol=2e-5)
