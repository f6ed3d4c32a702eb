"""The reusable Explainer: batches, cached probes, release with the model."""

import gc
import weakref

import keras
import numpy as np
import pytest

import camlens
from camlens import probe
from camlens.probe.plan import ID, Slot
from support.models import CLASSES, CountingIdentity, functional_resnet, images, residual_weights
from support.reference import residual_gradcam


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
    assert list(cached._compiled) == [("gradients", probe.OUTPUT, (Slot(ID),))]  # one for all three


@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="torch has no trace: its Python runs every call"
)
def test_new_targets_and_images_of_the_same_shape_do_not_retrace():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(CountingIdentity()(x))
    model = keras.Model(inputs, keras.layers.Dense(5)(x))
    explainer = camlens.Explainer(model, layer="conv")
    rng = np.random.default_rng(0)

    def batch():
        return rng.normal(size=(2, 8, 8, 3)).astype(np.float32)

    explainer(batch(), targets=[0])
    traced = CountingIdentity.calls
    for k in range(1, 5):
        explainer(batch(), targets=[k])
    assert CountingIdentity.calls == traced  # other ids, other images: no retrace
    explainer(batch())  # the top class: another target layout, traced once
    traced = CountingIdentity.calls
    explainer(batch())
    assert CountingIdentity.calls == traced


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


def test_surface_is_the_call_the_layers_and_the_documented_internal_interface():
    public = {name for name in vars(camlens.Explainer) if not name.startswith("_")}
    internal = {
        "prepare",
        "explain_prepared",
        "probe_pass",
        "method_inputs",
        "maps_of",
        "inspection_for",
        "settle_layer",
        "variant",
    }
    assert public == {"layer", "layers"} | internal
    assert all(getattr(camlens.Explainer, name).__doc__ for name in internal)


def test_maps_become_explanations_to_draw(resnet):
    batch = images(2, seed=5)
    maps = camlens.Explainer(resnet, layer="conv1")(batch, targets=[1, 3])
    explanations = maps.to_explanations(batch, target_names=["a", "b", "c", "d", "e"])
    assert len(explanations) == 2
    for n, expl in enumerate(explanations):
        assert [t.target for t in expl.targets] == [1, 3]
        np.testing.assert_array_equal(expl.targets[1].heatmap, maps.heatmaps[n, 1])
        assert expl.targets[0].score == pytest.approx(maps.scores[n, 0])
        pixels = np.asarray(expl.image, float)
        shifted = batch[n] - batch[n].min()
        np.testing.assert_allclose(pixels, shifted / shifted.max() * 255, atol=1)
    assert camlens.format_targets_as_image(explanations[0], target_names=["a"] * 5).mode == "RGB"
    with pytest.raises(ValueError, match="one image per map"):
        maps.to_explanations(batch[:1])


def test_preprocess_takes_a_raw_image_of_any_size(vit):
    keras_hub = pytest.importorskip("keras_hub")
    model = vit
    converter = keras_hub.layers.ViTImageConverter(image_size=(64, 64), scale=1 / 255.0)
    preprocessor = keras_hub.models.ViTImageClassifierPreprocessor(image_converter=converter)
    raw = np.random.default_rng(0).integers(0, 256, (1, 300, 200, 3)).astype(np.uint8)
    expl = camlens.explain_prediction(model, raw, targets=[1], preprocess=preprocessor)
    doc = keras.ops.convert_to_numpy(preprocessor(raw.astype(np.float32)))
    assert doc.shape == (1, 64, 64, 3) and doc.max() <= 1.0
    plain = camlens.explain_prediction(model, doc, targets=[1])
    np.testing.assert_allclose(expl.targets[0].heatmap, plain.targets[0].heatmap, atol=1e-6)
    assert expl.targets[0].heatmap.std() > 0.05
    assert expl.image.size == (200, 300)  # drawn over the raw image
    batch = camlens.Explainer(model, preprocess=preprocessor)(raw, targets=[1])
    np.testing.assert_allclose(batch.heatmaps[0, 0], plain.targets[0].heatmap, atol=1e-6)


def test_preprocess_must_be_callable(resnet):
    with pytest.raises(TypeError, match="preprocess must be None or a callable"):
        camlens.Explainer(resnet, preprocess="resize")
