"""Concepts from a planted low-rank activation tensor: the factors are recovered up
to order and scale, coefficients are each row's non-negative least squares, and
importance is the gradient x input of each planted part."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment, nnls

from camlens.concepts import ConceptBatch, fit_concepts
from camlens.concepts.factorization import BasisLearner, coefficients

GRID, CHANNELS, CONCEPTS = (6, 6), 12, 3


def planted(count: int, seed: int, gradient=None):
    """Activations A = U W (N, 6, 6, 12) of 3 known non-negative concepts, and the
    gradient of a linear score sum(v . A) at every position (v per class)."""
    rng = np.random.default_rng(seed)
    bases = np.zeros((CONCEPTS, CHANNELS))
    for j in range(CONCEPTS):  # channels 0-4, 4-8, 8-11: mostly disjoint, a little overlap
        channels = slice(4 * j, min(4 * j + 5, CHANNELS))
        bases[j, channels] = rng.uniform(0.5, 1, channels.stop - channels.start)
    bases /= np.linalg.norm(bases, axis=1, keepdims=True)
    present = rng.uniform(size=(count, *GRID, CONCEPTS)) < 0.35
    maps = rng.exponential(1.0, (count, *GRID, CONCEPTS)) * present
    activations = maps @ bases
    v = rng.normal(size=CHANNELS) if gradient is None else gradient
    gradients = np.broadcast_to(v, activations.shape).copy()
    return bases, maps, activations.astype(np.float32), gradients.astype(np.float32), v


def matched(truth: np.ndarray, found: np.ndarray):
    """The cosine of each planted row with its best match, and the match."""
    cosines = (truth / np.linalg.norm(truth, axis=1, keepdims=True)) @ (
        found / np.linalg.norm(found, axis=1, keepdims=True)
    ).T
    rows, columns = linear_sum_assignment(-cosines)
    return cosines[rows, columns], columns


def batches_of(activations, gradients, classes, size):
    def batches():
        for start in range(0, len(activations), size):
            part = slice(start, start + size)
            yield ConceptBatch(
                np.arange(len(activations))[part], classes[part], activations[part], gradients[part]
            )

    return batches


def test_coefficients_are_each_rows_non_negative_least_squares():
    rng = np.random.default_rng(0)
    bases = rng.uniform(0, 1, (4, 10)) * (rng.uniform(size=(4, 10)) < 0.7)
    rows = rng.uniform(-0.2, 1, (50, 10))  # not exactly in the cone: some coordinates at 0
    found = coefficients(rows, bases)
    reference = np.stack([nnls(bases.T, row)[0] for row in rows])
    np.testing.assert_allclose(found, reference, atol=1e-6)
    # a row's coefficients do not depend on the other rows of the call
    np.testing.assert_array_equal(coefficients(rows[:7], bases), found[:7])


def test_the_planted_concepts_maps_and_importance_are_recovered():
    bases, maps, activations, gradients, v = planted(200, seed=1)
    classes = np.zeros(200, np.int64)
    per_class, per_image = fit_concepts(
        batches_of(activations, gradients, classes, 16), CONCEPTS, seed=0, epochs=6
    )
    found = per_class[0]
    cosines, match = matched(bases, found.bases)
    assert cosines.min() > 0.9995, cosines
    # the coefficient maps are the planted ones, each scaled by its basis's norm
    mean_maps = maps.mean(axis=0)  # (6, 6, k), bases of unit length
    for j, m in enumerate(match):
        np.testing.assert_allclose(found.mean_maps[m], mean_maps[..., j], rtol=0.05, atol=0.02)
    # importance: mean over images of sum over positions of U_j (W_j . v)
    reference = (maps * (bases @ v)).sum(axis=(1, 2)).mean(axis=0)
    np.testing.assert_allclose(found.importance[match], reference, rtol=0.03, atol=0.02)
    assert np.all(np.diff(found.importance) <= 0), "sorted by importance"
    np.testing.assert_allclose(np.abs(found.share).sum(), 1.0)
    # per image: the coefficient is the map's mean; the contributions sum to G . A
    np.testing.assert_allclose(
        per_image.coefficients[:, match], maps.mean(axis=(1, 2)), rtol=0.05, atol=0.02
    )
    layer_gradient_input = (gradients * activations).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(
        per_image.contributions.sum(axis=1),
        layer_gradient_input,
        atol=0.03 * np.abs(layer_gradient_input).max(),
    )
    # the strongest images of each concept are those of the largest planted mean
    for j, m in enumerate(match):
        strongest = np.argsort(-maps[..., j].mean(axis=(1, 2)), kind="stable")[:3]
        assert set(found.strongest[m][:3]) == set(strongest.tolist())


def test_concepts_do_not_depend_on_how_the_images_are_batched():
    _, _, activations, gradients, _ = planted(40, seed=2)
    classes = np.arange(40) % 2
    runs = [
        fit_concepts(batches_of(activations, gradients, classes, size), CONCEPTS, seed=3)
        for size in (40, 7)
    ]
    for class_id in (0, 1):
        first, second = (run[0][class_id] for run in runs)
        np.testing.assert_array_equal(first.bases, second.bases)
        np.testing.assert_allclose(first.importance, second.importance, rtol=1e-12)
        assert first.strongest == second.strongest and first.images == 20
    np.testing.assert_array_equal(runs[0][1].ids, runs[1][1].ids)
    np.testing.assert_allclose(runs[0][1].coefficients, runs[1][1].coefficients, rtol=1e-12)


def test_too_few_rows_to_learn_from_is_refused():
    learner = BasisLearner(5)
    learner.feed(np.ones((3, 8)))
    learner.flush()
    with pytest.raises(ValueError, match="fewer than concepts=5"):
        learner.bases()
