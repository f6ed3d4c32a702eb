"""explain_prediction: ELI5's contract, on every kind of model, against a numpy reference."""

import keras
import numpy as np
import pytest
from PIL import Image

import camlens
from support.models import CLASSES, SIZE, images, residual_weights
from support.reference import residual_gradcam


def test_matches_numpy_reference_on_every_model_kind(any_model):
    doc = images()
    expected, probs, _, _ = residual_gradcam(residual_weights(), doc[0], None)

    expl = camlens.explain_prediction(any_model, doc, layer="conv1")

    (target,) = expl.targets
    assert target.target == int(np.argmax(probs))
    assert target.score == pytest.approx(probs.max(), rel=1e-5)
    np.testing.assert_allclose(target.heatmap, expected, atol=1e-5)


@pytest.mark.parametrize("class_id", [1, 3])
def test_explicit_target_matches_reference(resnet, class_id):
    doc = images(seed=7)
    expected, probs, _, _ = residual_gradcam(residual_weights(), doc[0], class_id)

    target = camlens.explain_prediction(resnet, doc, targets=[class_id], layer="conv1").targets[0]

    assert target.target == class_id
    assert target.score == pytest.approx(probs[class_id], rel=1e-5)
    np.testing.assert_allclose(target.heatmap, expected, atol=1e-5)


def test_several_targets_keep_their_order(resnet):
    doc = images()
    expl = camlens.explain_prediction(resnet, doc, targets=[4, 0, 2], layer="conv1")

    assert [t.target for t in expl.targets] == [4, 0, 2]
    for t in expl.targets:
        expected, _, _, _ = residual_gradcam(residual_weights(), doc[0], t.target)
        np.testing.assert_allclose(t.heatmap, expected, atol=1e-5)


def test_eli5_fields(resnet):
    expl = camlens.explain_prediction(resnet, images())

    assert expl.estimator == "flat"
    assert expl.method == "Grad-CAM"
    assert expl.error == ""
    assert "Grad-CAM" in expl.description
    assert expl.layer == "merged_relu"
    (target,) = expl.targets
    assert target.proba is None
    assert isinstance(target.score, float)
    assert target.heatmap.shape == (SIZE, SIZE)
    assert target.heatmap.min() >= 0 and target.heatmap.max() <= 1


def test_score_is_the_model_output(resnet):
    doc = images(seed=3)
    probs = np.asarray(resnet.predict(doc, verbose=0))[0]
    targets = list(range(CLASSES))
    expl = camlens.explain_prediction(resnet, doc, targets=targets)
    np.testing.assert_allclose([t.score for t in expl.targets], probs, rtol=1e-5)
    assert camlens.explain_prediction(resnet, doc).targets[0].target == int(np.argmax(probs))


def test_single_int_target_is_accepted(resnet):
    expl = camlens.explain_prediction(resnet, images(), targets=2)
    assert [t.target for t in expl.targets] == [2]


def test_callable_target(resnet):
    doc = images()
    by_id = camlens.explain_prediction(resnet, doc, targets=[3], layer="conv1").targets[0]

    def third(outputs):
        return outputs[:, 3]

    by_callable = camlens.explain_prediction(resnet, doc, targets=[third], layer="conv1").targets[0]

    assert by_callable.target is third
    assert by_callable.score == pytest.approx(by_id.score, rel=1e-6)
    np.testing.assert_allclose(by_callable.heatmap, by_id.heatmap, atol=1e-7)


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB"), (4, "RGBA")])
def test_image_is_derived_from_doc(channels, mode):
    inputs = keras.Input((8, 8, channels))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    doc = np.linspace(-1.0, 3.0, 8 * 8 * channels, dtype=np.float32).reshape(1, 8, 8, channels)

    image = camlens.explain_prediction(model, doc).image

    assert image.mode == mode and image.size == (8, 8)
    pixels = np.asarray(image, dtype=np.float64).reshape(doc.shape[1:])
    expected = (doc[0] + 1.0) / 4.0 * 255  # shifted to 0, scaled to 255
    np.testing.assert_allclose(pixels, expected, atol=1.0)


def test_given_image_is_kept(resnet):
    picture = Image.new("RGB", (40, 30), "red")
    assert camlens.explain_prediction(resnet, images(), image=picture).image is picture


def test_all_zero_activations_give_an_all_zero_map():
    inputs = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(2, 3, activation="relu", name="dead", kernel_initializer="zeros")
    x = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))

    heatmap = (
        camlens.explain_prediction(model, np.ones((1, 6, 6, 1), np.float32)).targets[0].heatmap
    )

    assert heatmap.shape == (4, 4)
    assert np.all(heatmap == 0) and not np.isnan(heatmap).any()


def test_gradcam_backend_returns_eli5_terms(resnet):
    doc = images()
    _, probs, activations, gradients = residual_gradcam(residual_weights(), doc[0], 2)

    weights, acts, grads, index, value = camlens.gradcam_backend(resnet, doc, [2], "conv1")

    assert index == 2 and value == pytest.approx(probs[2], rel=1e-5)
    np.testing.assert_allclose(acts, activations, atol=1e-5)
    np.testing.assert_allclose(grads, gradients, atol=1e-6)
    np.testing.assert_allclose(weights, gradients.mean(axis=(0, 1)), atol=1e-7)
    heatmap = camlens.gradcam(weights, acts)
    expected, _, _, _ = residual_gradcam(residual_weights(), doc[0], 2)
    np.testing.assert_allclose(heatmap, expected, atol=1e-5)


def test_gradcam_backend_top_prediction(resnet):
    doc = images()
    _, probs, _, _ = residual_gradcam(residual_weights(), doc[0], None)
    _, _, _, index, value = camlens.gradcam_backend(resnet, doc, None, resnet.get_layer("conv1"))
    assert index == int(np.argmax(probs)) and value == pytest.approx(probs.max(), rel=1e-5)


def test_gradcam_backend_rejects_several_targets(resnet):
    with pytest.raises(ValueError, match="one target"):
        camlens.gradcam_backend(resnet, images(), [1, 2], "conv1")
    with pytest.raises(TypeError, match="targets"):
        camlens.gradcam_backend(resnet, images(), 1, "conv1")


def test_max_channels_and_smooth_reach_the_explainer(resnet):
    x = images(1, seed=4)
    fast = camlens.explain_prediction(resnet, x, method="scorecam", max_channels=2, layer="conv1")
    full = camlens.explain_prediction(resnet, x, method="scorecam", layer="conv1")
    expected = camlens.Explainer(resnet, layer="conv1", method="scorecam", max_channels=2)(x)
    np.testing.assert_allclose(fast.targets[0].heatmap, expected.heatmaps[0, 0], atol=1e-6)
    assert np.abs(fast.targets[0].heatmap - full.targets[0].heatmap).max() > 1e-3
    smoothed = camlens.explain_prediction(resnet, x, smooth="aug")
    plain = camlens.explain_prediction(resnet, x)
    assert np.abs(smoothed.targets[0].heatmap - plain.targets[0].heatmap).max() > 1e-3
