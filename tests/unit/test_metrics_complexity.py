"""Sparseness (Gini index) and complexity (entropy) against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from camlens.metrics import complexity, sparseness


def gini_by_differences(values: np.ndarray) -> float:
    """The Gini index as the mean absolute difference over twice the mean."""
    values = np.abs(values.ravel())
    differences = np.abs(values[:, None] - values[None, :]).sum()
    return differences / (2 * len(values) ** 2 * values.mean())


def entropy_by_loop(values: np.ndarray) -> float:
    values = np.abs(values.ravel())
    total = values.sum()
    return -sum(v / total * np.log(v / total) for v in values if v > 0)


def test_against_the_definitions_on_random_maps():
    maps = np.random.default_rng(0).uniform(-0.3, 1, (6, 5, 7))  # signed: magnitudes count
    np.testing.assert_allclose(sparseness(maps), [gini_by_differences(m) for m in maps])
    np.testing.assert_allclose(complexity(maps), [entropy_by_loop(m) for m in maps])


def test_analytic_cases():
    uniform, point, zero = np.ones((4, 4)), np.zeros((4, 4)), np.zeros((4, 4))
    point[1, 2] = 3.0
    maps = np.stack([uniform, point, zero])
    np.testing.assert_allclose(sparseness(maps)[:2], [0.0, 15 / 16])
    np.testing.assert_allclose(complexity(maps)[:2], [np.log(16), 0.0], atol=1e-12)
    assert np.isnan(sparseness(maps)[2]) and np.isnan(complexity(maps)[2])
    # any rank: 1-D signals' maps
    np.testing.assert_allclose(complexity(np.ones((2, 8))), np.log(8))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="heatmaps must be"):
        sparseness(np.ones(5))
