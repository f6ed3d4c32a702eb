"""Score-CAM's max_channels (Faster Score-CAM) against the formula over the chosen channels."""

import numpy as np
import pytest

import camlens
from support.method_references import TARGET, combine, masked_scores, normalized, reference_terms
from support.models import CHANNELS, images


def test_max_channels_equal_to_the_channel_count_is_full_scorecam(resnet):
    doc = images(2, seed=6)
    full = camlens.Explainer(resnet, layer="conv1", method="scorecam")(doc)
    every = camlens.Explainer(resnet, layer="conv1", method="scorecam", max_channels=CHANNELS[1])(
        doc
    )
    np.testing.assert_array_equal(every.heatmaps, full.heatmaps)


def test_max_channels_scores_the_channels_of_largest_variance(resnet):
    doc, a, _ = reference_terms("output")
    variances = [a[:, :, k].var() for k in range(a.shape[-1])]
    chosen = sorted(np.argsort(variances)[-3:])
    scores = np.log(masked_scores(doc, a, "probs"))  # softmax weights -> scores + constant
    weights = np.zeros(a.shape[-1])
    weights[chosen] = np.exp(scores[chosen]) / np.exp(scores[chosen]).sum()

    explainer = camlens.Explainer(resnet, layer="conv1", method="scorecam", max_channels=3)
    heatmap = explainer(doc, targets=[TARGET]).heatmaps[0, 0]

    np.testing.assert_allclose(heatmap, normalized(combine(a, weights)), atol=2e-5)


@pytest.mark.parametrize(
    "options, error",
    [
        (dict(method="gradcam", max_channels=4), "applies to"),
        (dict(method="scorecam", max_channels=0), "max_channels must be a positive"),
    ],
)
def test_bad_max_channels(resnet, options, error):
    with pytest.raises(ValueError, match=error):
        camlens.Explainer(resnet, **options)
