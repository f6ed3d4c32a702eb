"""The reusable Explainer: batches, cached probes, release with the model."""

import gc
import weakref

import numpy as np
import pytest

import camlens
from camlens import probe
from conftest import CLASSES, functional_resnet, images, residual_weights
from reference import residual_gradcam


def test_batch_of_images_and_targets_matches_the_reference(resnet):
    batch = images(3, seed=11)
    maps = camlens.Explainer(resnet, layer="conv1")(batch, targets=[1, 4])

    assert maps.heatmaps.shape == (3, 2, 12, 12)
    np.testing.assert_array_equal(maps.targets, [[1, 4]] * 3)
    for n in range(3):
        for k, class_id in enumerate([1, 4]):
            expected, probs, _, _ = residual_gradcam(residual_weights(), batch[n], class_id)
            np.testing.assert_allclose(maps.heatmaps[n, k], expected, atol=1e-5)
            assert maps.scores[n, k] == pytest.approx(probs[class_id], rel=1e-5)


def test_top_prediction_is_per_image(resnet):
    batch = images(6, seed=2)
    maps = camlens.Explainer(resnet)(batch)
    predicted = np.argmax(resnet.predict(batch, verbose=0), axis=-1)
    np.testing.assert_array_equal(maps.targets[:, 0], predicted)
    assert maps.outputs.shape == (6, CLASSES)


def test_compiled_probe_is_reused_across_calls_and_explainers(resnet):
    first = camlens.Explainer(resnet, layer="conv1")
    first(images(), targets=[0])
    first(images(seed=4), targets=[3])
    camlens.explain_prediction(resnet, images(seed=5), targets=[2], layer="conv1")
    cached = probe.probe_for(resnet, resnet.get_layer("conv1"))
    assert list(cached._compiled) == [("explain", probe.OUTPUT, (probe.ID,))]  # one for all three


def test_cache_is_released_with_the_model():
    gc.collect()
    held = len(probe._cache)
    model = functional_resnet()
    camlens.explain_prediction(model, images())
    assert len(probe._cache) == held + 1
    reference = weakref.ref(model)
    del model
    gc.collect()
    assert reference() is None  # nothing camlens keeps holds the model
    assert len(probe._cache) == held


def test_images_are_validated(resnet):
    explainer = camlens.Explainer(resnet)
    with pytest.raises(ValueError, match="images"):
        explainer(np.zeros((2, 5, 5, 3), np.float32))
    with pytest.raises(TypeError, match="images"):
        explainer([[0.0]])
