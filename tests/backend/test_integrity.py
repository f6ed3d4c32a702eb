"""The user's model is exactly as it was after every call, successful or not."""

import keras
import numpy as np
import pytest
from keras import layers

import camlens
from support.integrity import assert_unchanged, snapshot
from support.models import SIZE, images


def batchnorm_model():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(4, 3, name="conv")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
    rng = np.random.default_rng(0)
    model.set_weights(
        [rng.normal(0.5, 0.3, w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return model


def test_batchnorm_statistics_and_weights_untouched():
    model = batchnorm_model()
    model.get_layer("bn").trainable = False
    before = snapshot(model)
    for layer in (None, "conv", "bn"):
        camlens.explain_prediction(model, images(), layer=layer, targets=[0, 1])
    camlens.Explainer(model)(images(4))
    assert_unchanged(before, snapshot(model))


def test_model_unchanged_after_a_failure_inside_the_forward_pass(any_model):
    class Boom(Exception):
        pass

    before = snapshot(any_model)
    pool = [layer for layer in any_model._flatten_layers() if layer.name == "pool"][0]
    original = type(pool).call

    def failing(self, *args, **kwargs):
        raise Boom("inside the forward pass")

    type(pool).call = failing
    try:
        with pytest.raises(Boom):
            camlens.explain_prediction(any_model, images(), layer="conv1")
    finally:
        type(pool).call = original
    assert_unchanged(before, snapshot(any_model))
    assert (
        camlens.explain_prediction(any_model, images(), layer="conv1").targets[0].heatmap.max() > 0
    )


def test_model_saves_and_reloads_identically_after_explaining(tmp_path, resnet):
    camlens.explain_prediction(resnet, images(), layer="conv1")
    path = tmp_path / "model.keras"
    resnet.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        resnet.predict(images(), verbose=0), reloaded.predict(images(), verbose=0)
    )
    expected = camlens.explain_prediction(resnet, images(), layer="conv1").targets[0].heatmap
    again = camlens.explain_prediction(reloaded, images(), layer="conv1").targets[0].heatmap
    np.testing.assert_allclose(again, expected, atol=1e-7)
