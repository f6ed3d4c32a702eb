"""ROAD's noisy linear imputation and pixel order, against pytorch-grad-cam's
`NoisyLinearImputer` and `RemoveMost/LeastRelevantFirst`, and against a dense
solve of the paper's definition written here."""

from __future__ import annotations

import numpy as np
import pytest

from camlens.metrics.road import impute, removed_pixels
from support.road_reference import dense_imputation, grad_cam_road


@pytest.fixture
def picture():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (12, 10, 3))
    heatmap = rng.uniform(0, 1, (12, 10))
    return image, heatmap


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_imputation_is_the_weighted_mean_of_the_neighbours(picture, fraction):
    image, heatmap = picture
    missing = removed_pixels(heatmap, fraction, most_relevant=True)
    assert missing.sum() == pytest.approx(fraction * missing.size, abs=1)
    found = impute(image, missing)
    np.testing.assert_allclose(found, dense_imputation(image, missing), atol=1e-10)
    np.testing.assert_array_equal(found[~missing], image[~missing])


def test_imputation_and_order_are_pytorch_grad_cams(picture):
    import torch

    road = grad_cam_road()
    image, heatmap = picture
    chw = torch.from_numpy(np.moveaxis(image, -1, 0).astype(np.float32))
    for fraction in (0.2, 0.7):
        percentile = round(100 * (1 - fraction))
        for remover, most in (
            (road.RemoveMostRelevantFirst, True),
            (road.RemoveLeastRelevantFirst, False),
        ):
            kept = {}

            def capture(tensor, mask, kept=kept):
                kept["mask"] = mask.numpy()
                return road.NoisyLinearImputer(noise=0.0)(tensor, mask)

            theirs = remover(percentile, capture)(chw, torch.from_numpy(heatmap.astype(np.float32)))
            missing = removed_pixels(heatmap.astype(np.float32), fraction, most)
            np.testing.assert_array_equal(missing, kept["mask"] == 0)
            mine = impute(image.astype(np.float32), missing)
            np.testing.assert_allclose(mine, np.moveaxis(theirs.numpy(), 0, -1), atol=1e-5)


def test_noise_is_gaussian_of_the_given_deviation_on_imputed_pixels_only(picture):
    image, heatmap = picture
    missing = removed_pixels(heatmap, 0.5, most_relevant=False)
    clean = impute(image, missing)
    noisy = impute(image, missing, noise=0.05, rng=np.random.default_rng(1))
    difference = (noisy - clean)[missing]
    assert abs(difference.std() - 0.05) < 0.01 and abs(difference.mean()) < 0.015
    np.testing.assert_array_equal(noisy[~missing], image[~missing])
