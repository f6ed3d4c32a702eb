"""Deletion, insertion, average drop and the randomization check, on constructed cases.

The model here reads only one quadrant of the image (its output is a softmax
over the mean brightness of the top-left quadrant and a constant), so the
perfect heatmap is known: that quadrant.
"""

import keras
import numpy as np
import pytest

from camlens.metrics import (
    average_drop_increase,
    deletion,
    insertion,
    randomization_check,
    spearman,
)
from support.models import functional_resnet, images

SIZE = 8


class QuadrantScore(keras.layers.Layer):
    def call(self, x):
        quadrant = keras.ops.mean(x[:, : SIZE // 2, : SIZE // 2, :], axis=(1, 2, 3))
        return keras.ops.stack([4.0 * quadrant, keras.ops.ones_like(quadrant)], axis=1)


def quadrant_model():
    inputs = keras.Input((SIZE, SIZE, 1))
    return keras.Model(inputs, keras.layers.Softmax()(QuadrantScore()(inputs)))


def maps():
    perfect = np.zeros((1, SIZE, SIZE))
    perfect[0, : SIZE // 2, : SIZE // 2] = 1.0
    rng = np.random.default_rng(0)
    return perfect, rng.uniform(size=(1, SIZE, SIZE)), 1.0 - perfect


def bright():
    return np.ones((1, SIZE, SIZE, 1), np.float32)


def test_deletion_auc_perfect_below_random_below_inverted():
    model, target = quadrant_model(), np.array([0])
    perfect, random, inverted = maps()
    auc = [deletion(model, bright(), m, target, baseline="zeros", steps=16).auc[0] for m in maps()]
    assert auc[0] < auc[1] < auc[2]


def test_insertion_auc_perfect_above_random_above_inverted():
    model, target = quadrant_model(), np.array([0])
    auc = [insertion(model, bright(), m, target, baseline="zeros", steps=16).auc[0] for m in maps()]
    assert auc[0] > auc[1] > auc[2]


def test_curves_start_and_end_at_the_image_and_the_baseline():
    model, target = quadrant_model(), np.array([0])
    perfect = maps()[0]
    full = model.predict_on_batch(bright())[0, 0]
    empty = model.predict_on_batch(np.zeros_like(bright()))[0, 0]
    curve = deletion(model, bright(), perfect, target, baseline="zeros", steps=4)
    assert curve.scores[0, 0] == pytest.approx(full) and curve.scores[0, -1] == pytest.approx(empty)
    assert curve.fractions.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert np.all(np.diff(curve.scores[0]) <= 1e-7)  # deleting the quadrant only lowers it
    curve = insertion(model, bright(), perfect, target, baseline="mean", steps=4)
    assert curve.scores[0, -1] == pytest.approx(full)


def test_average_drop_and_increase():
    model, target = quadrant_model(), np.array([0])
    perfect, _, inverted = maps()
    drop_perfect, _ = average_drop_increase(model, bright(), perfect, target)
    drop_inverted, increase = average_drop_increase(model, bright(), inverted, target)
    assert drop_perfect == pytest.approx(0, abs=1e-4)
    assert drop_inverted > 30 and increase == 0


def test_spearman():
    x = np.arange(10.0)
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert spearman(x, np.zeros(10)) == 0.0


def test_randomization_check_tells_grad_cam_from_eigen_cam():
    model = functional_resnet()
    before = [w.copy() for w in model.get_weights()]
    batch = images(3, seed=12)
    gradcam = randomization_check(model, batch, method="gradcam", layer="conv1")
    eigencam = randomization_check(model, batch, method="eigencam", layer="conv1")
    assert gradcam.randomized == ["conv2", "predictions"]
    assert gradcam.passed and not eigencam.passed
    np.testing.assert_allclose(eigencam.correlations, 1.0, atol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(baseline="noise"), ValueError),
        (dict(steps=0), ValueError),
        (dict(targets=np.array([0.5])), TypeError),
        (dict(heatmaps=np.zeros((2, SIZE, SIZE))), ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    arguments = dict(images=bright(), heatmaps=maps()[0], targets=np.array([0]))
    arguments.update(kwargs)
    with pytest.raises(error):
        deletion(quadrant_model(), **arguments)
