"""ROAD and max-sensitivity through a model: ROAD's scores are the model's scores
on images imputed as the paper defines (a dense solve written in the tests), and on
torch pytorch-grad-cam's own `ROADCombined` gives the same combined score;
max-sensitivity is the largest relative change of the map under the perturbations."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import camlens
from camlens.metrics import max_sensitivity, road
from camlens.metrics.road import removed_pixels
from camlens.resize import upsample
from support.models import SIZE, functional_resnet, images
from support.road_reference import dense_imputation, grad_cam_road

FRACTIONS = (0.2, 0.5, 0.8)


@pytest.fixture(scope="module")
def case():
    model = functional_resnet()
    pictures = images(3, seed=4)
    targets = np.array([0, 2, 4])
    heatmaps = np.random.default_rng(5).uniform(size=(3, 6, 6))
    return model, pictures, heatmaps, targets


def test_road_is_the_score_change_on_imputed_images(case):
    model, pictures, heatmaps, targets = case
    found = road(model, pictures, heatmaps, targets, FRACTIONS, noise=0.0)
    maps = upsample(heatmaps, (SIZE, SIZE))
    original = model.predict(pictures, verbose=0)[np.arange(3), targets]
    for most, changes in ((True, found.most_relevant_first), (False, found.least_relevant_first)):
        imputed = np.stack(
            [
                dense_imputation(pictures[n], removed_pixels(maps[n], f, most))
                for n in range(3)
                for f in FRACTIONS
            ]
        ).astype(np.float32)
        scores = model.predict(imputed, verbose=0)[np.arange(9), np.repeat(targets, 3)]
        np.testing.assert_allclose(changes, scores.reshape(3, 3) - original[:, None], atol=1e-5)
    np.testing.assert_allclose(
        found.combined,
        ((found.least_relevant_first - found.most_relevant_first) / 2).mean(axis=1),
    )


def test_road_combined_is_pytorch_grad_cams(case, monkeypatch):
    if keras.backend.backend() != "torch":
        pytest.skip("pytorch-grad-cam calls the model as a torch module")
    import torch

    reference = grad_cam_road()

    class Noiseless(reference.NoisyLinearImputer):  # what ROADCombined builds, noise 0
        def __init__(self):
            super().__init__(noise=0.0)

    monkeypatch.setattr(reference, "NoisyLinearImputer", Noiseless)
    model, pictures, heatmaps, targets = case

    class ChannelsFirst(torch.nn.Module):  # grad-cam feeds (N, C, H, W)
        def forward(self, x):
            return model(x.permute(0, 2, 3, 1))

    percentiles = [round(100 * (1 - f)) for f in FRACTIONS]
    maps = upsample(heatmaps, (SIZE, SIZE)).astype(np.float32)
    theirs = reference.ROADCombined(percentiles)(
        torch.from_numpy(np.moveaxis(pictures, -1, 1).copy()),
        maps,
        [lambda output, c=int(c): output[c] for c in targets],
        ChannelsFirst(),
    )
    mine = road(model, pictures, maps, targets, FRACTIONS, noise=0.0).combined
    np.testing.assert_allclose(mine, theirs, atol=1e-5)


def test_road_noise_is_seeded(case):
    model, pictures, heatmaps, targets = case
    first, second, other = (
        road(model, pictures, heatmaps, targets, (0.5,), seed=s).most_relevant_first
        for s in (1, 1, 2)
    )
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_max_sensitivity_is_the_largest_relative_change(case):
    model, pictures, _, targets = case
    explainer = camlens.Explainer(model, layer="conv1")
    found = max_sensitivity(explainer, pictures, targets, radius=0.05, samples=3, seed=7)
    # the definition: perturbations uniform in +-radius x the image's range, drawn in order
    rng = np.random.default_rng(7)
    base = explainer(pictures, targets).heatmaps[:, 0]
    spans = (pictures.max(axis=(1, 2, 3)) - pictures.min(axis=(1, 2, 3)))[:, None, None, None]
    ratios = []
    for _ in range(3):
        moved = pictures + rng.uniform(-1, 1, pictures.shape) * 0.05 * spans
        change = explainer(moved.astype(np.float32), targets).heatmaps[:, 0] - base
        ratios.append([np.linalg.norm(change[n]) / np.linalg.norm(base[n]) for n in range(3)])
    np.testing.assert_allclose(found, np.max(ratios, axis=0), rtol=1e-6)
    assert (found > 0).all()
    tiny = max_sensitivity(explainer, pictures, targets, radius=1e-6, samples=2)
    assert (tiny < 1e-3).all()
