"""smooth="aug": maps of flipped and rescaled images, mapped back and averaged."""

import keras
import numpy as np
import pytest

import camlens
from support.models import CLASSES, SIZE, images


def lopsided_model() -> keras.Model:
    """A conv whose kernels are not mirror-symmetric: its maps of a mirror-symmetric
    image are lopsided, and only averaging with the flip makes them symmetric."""
    rng = np.random.default_rng(3)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax")(x))
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


def symmetric_image() -> np.ndarray:
    half = images(seed=9)[:, :, : SIZE // 2]
    return np.concatenate([half, half[:, :, ::-1]], axis=2)


@pytest.mark.parametrize("method", ["gradcam", "layercam"])
def test_aug_smoothing_gives_a_mirror_symmetric_image_a_symmetric_map(method):
    model, doc = lopsided_model(), symmetric_image()
    assert np.array_equal(doc, doc[:, :, ::-1])
    plain = camlens.Explainer(model, layer="conv", method=method)(doc, targets=[2]).heatmaps[0, 0]
    smooth = camlens.Explainer(model, layer="conv", method=method, smooth="aug")(doc, targets=[2])
    heatmap = smooth.heatmaps[0, 0]

    assert np.abs(plain - plain[:, ::-1]).max() > 0.05  # the model alone is lopsided
    np.testing.assert_allclose(heatmap, heatmap[:, ::-1], atol=1e-6)
    assert heatmap.max() == pytest.approx(1.0, abs=1e-5)
    assert smooth.targets[0, 0] == 2


def test_aug_smoothing_explains_the_image_s_own_top_class():
    model, doc = lopsided_model(), images(2, seed=4)
    maps = camlens.Explainer(model, layer="conv", smooth="aug")(doc)
    np.testing.assert_array_equal(
        maps.targets[:, 0], np.argmax(model.predict(doc, verbose=0), axis=-1)
    )


def test_bad_smooth(resnet):
    with pytest.raises(ValueError, match="smooth must be"):
        camlens.Explainer(resnet, smooth="blur")


def test_aug_smoothing_refuses_targets_it_cannot_flip(resnet):
    explainer = camlens.Explainer(resnet, layer="conv1", smooth="aug")
    with pytest.raises(ValueError, match="class-id targets"):
        explainer(images(), targets=[lambda p: p[:, 1]])
