"""Targets: per-image class ids, Class, Region, Output, sigmoid heads, callables.

References are analytic: the models below end in global average pooling and a
dense layer (or a 1x1 convolution and nearest upsampling), so the gradient of a
score with respect to the explained layer is written out in numpy.
"""

import keras
import numpy as np
import pytest
from keras import layers

import camlens
from camlens import probe
from camlens.methods import METHODS, class_methods
from camlens.targets import Class, Output, Region
from support.models import CLASSES, CountingIdentity, images, residual_weights
from support.reference import residual_gradcam

SIZE = 8


def _seeded(model: keras.Model, seed: int) -> keras.Model:
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _inputs(count: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, SIZE, SIZE, 3)).astype(np.float32)


def _activations(model, name, batch) -> np.ndarray:
    reader = keras.Model(model.inputs, model.get_layer(name).output)
    return np.asarray(reader.predict(batch, verbose=0), np.float64)


def _gradcam(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM of one image: activations (h, w, C), gradients (h, w, C)."""
    cam = np.maximum(np.einsum("hwc,c->hw", activations, gradients.mean(axis=(0, 1))), 0)
    return cam / (cam.max() + 1e-7)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- per-image class ids -------------------------------------------------------


def test_per_image_ids_equal_the_one_image_loop(resnet):
    batch = images(4, seed=21)
    ids = np.array([3, 0, 4, 1])
    maps = camlens.Explainer(resnet, layer="conv1")(batch, targets=ids)

    assert maps.heatmaps.shape == (4, 1, 12, 12)
    np.testing.assert_array_equal(maps.targets[:, 0], ids)
    for n, class_id in enumerate(ids):
        expected, probs, _, _ = residual_gradcam(residual_weights(), batch[n], int(class_id))
        np.testing.assert_allclose(maps.heatmaps[n, 0], expected, atol=1e-5)
        assert maps.scores[n, 0] == pytest.approx(probs[class_id], rel=1e-5)


def test_per_image_id_table_gives_k_maps_per_image(resnet):
    batch = images(3, seed=22)
    ids = np.array([[0, 4], [2, 2], [1, 3]])
    maps = camlens.Explainer(resnet, layer="conv1")(batch, targets=ids)

    assert maps.heatmaps.shape == (3, 2, 12, 12)
    np.testing.assert_array_equal(maps.targets, ids)
    for n in range(3):
        for k in range(2):
            expected = residual_gradcam(residual_weights(), batch[n], int(ids[n, k]))[0]
            np.testing.assert_allclose(maps.heatmaps[n, k], expected, atol=1e-5)


def test_explain_batch_slices_per_image_ids_per_batch(resnet):
    batch = images(5, seed=23)
    ids = np.array([4, 3, 2, 1, 0])
    whole = camlens.Explainer(resnet, layer="conv1")(batch, targets=ids)
    streamed = camlens.explain_batch(
        resnet, (image for image in batch), targets=ids, layer="conv1", batch_size=2
    )
    np.testing.assert_array_equal(streamed.targets[:, 0], ids)
    np.testing.assert_allclose(streamed.heatmaps, whole.heatmaps, atol=1e-5)
    with pytest.raises(ValueError, match="targets"):
        camlens.explain_batch(resnet, (image for image in batch), targets=ids[:4], batch_size=2)


def test_explain_prediction_takes_per_image_ids_and_target_objects(resnet):
    doc = images(1, seed=24)
    expl = camlens.explain_prediction(resnet, doc, targets=[Class(2), 4], layer="conv1")
    assert [t.target for t in expl.targets] == [2, 4]
    expected = residual_gradcam(residual_weights(), doc[0], 2)[0]
    np.testing.assert_allclose(expl.targets[0].heatmap, expected, atol=1e-5)
    by_array = camlens.explain_prediction(resnet, doc, targets=np.array([2]), layer="conv1")
    np.testing.assert_allclose(by_array.targets[0].heatmap, expected, atol=1e-5)


# --- sigmoid heads --------------------------------------------------------------


def multilabel_model(units: int) -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(units, activation="sigmoid", name="labels")(x)
    return _seeded(keras.Model(inputs, outputs), seed=5)


def test_multilabel_sigmoid_head_explains_each_label():
    model = multilabel_model(4)
    batch = _inputs(2)
    maps = camlens.Explainer(model, layer="conv")(batch, targets=[1, 3])

    activations = _activations(model, "conv", batch)
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("labels").get_weights())
    for n in range(2):
        s = _sigmoid(activations[n].mean(axis=(0, 1)) @ kernel + bias)
        for k, label in enumerate([1, 3]):
            pooled = s[label] * (1 - s[label]) * kernel[:, label]
            gradients = np.broadcast_to(pooled / (SIZE * SIZE), activations[n].shape)
            np.testing.assert_allclose(
                maps.heatmaps[n, k], _gradcam(activations[n], gradients), atol=1e-5
            )
            assert maps.scores[n, k] == pytest.approx(s[label], rel=1e-5)


def test_binary_head_counterfactual_maps_the_negative_class():
    model = multilabel_model(1)
    batch = _inputs(2, seed=6)
    positive = camlens.Explainer(model, layer="conv")(batch, targets=0)
    negative = camlens.Explainer(model, layer="conv", counterfactual=True)(batch, targets=0)

    activations = _activations(model, "conv", batch)
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("labels").get_weights())
    for n in range(2):
        s = _sigmoid(activations[n].mean(axis=(0, 1)) @ kernel + bias)[0]
        gradients = np.broadcast_to(s * (1 - s) * kernel[:, 0] / SIZE**2, activations[n].shape)
        np.testing.assert_allclose(
            positive.heatmaps[n, 0], _gradcam(activations[n], gradients), atol=1e-5
        )
        np.testing.assert_allclose(
            negative.heatmaps[n, 0], _gradcam(activations[n], -gradients), atol=1e-5
        )


# --- segmentation: Region ---------------------------------------------------------


def segmentation_model() -> keras.Model:
    """enc (4, 4, 4) -> 1x1 conv to 3 classes -> nearest upsampling x2 -> softmax."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="enc")(inputs)
    x = layers.Conv2D(3, 1, name="classify")(x)
    x = layers.UpSampling2D(2, name="up")(x)
    return _seeded(keras.Model(inputs, layers.Softmax(name="probs")(x)), seed=7)


def _region_reference(model, image_activations, class_id, mask):
    """Grad-CAM at enc of sum over mask of the class probability, and the score."""
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("classify").get_weights())
    kernel = kernel[0, 0]  # (4, 3)
    low = image_activations @ kernel + bias  # (4, 4, 3)
    probs = _softmax(low.repeat(2, axis=0).repeat(2, axis=1))  # (8, 8, 3)
    if mask is None:
        mask = probs.argmax(axis=-1) == class_id
    onehot = np.eye(3)[class_id]
    grad_high = mask[..., None] * probs[..., class_id : class_id + 1] * (onehot - probs)
    grad_low = grad_high.reshape(4, 2, 4, 2, 3).sum(axis=(1, 3))
    gradients = grad_low @ kernel.T  # (4, 4, 4)
    return _gradcam(image_activations, gradients), float((probs[..., class_id] * mask).sum())


@pytest.mark.parametrize("given_mask", [True, False])
def test_region_matches_segmentation_gradcam(given_mask):
    model = segmentation_model()
    batch = _inputs(2, seed=8)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[2:6, 1:5] = True
    region = Region(1, mask if given_mask else None)
    maps = camlens.Explainer(model, layer="enc")(batch, targets=[region, Region(2)])

    activations = _activations(model, "enc", batch)
    assert maps.heatmaps.shape == (2, 2, 4, 4)
    np.testing.assert_array_equal(maps.targets, [[1, 2]] * 2)
    for n in range(2):
        expected, score = _region_reference(model, activations[n], 1, mask if given_mask else None)
        np.testing.assert_allclose(maps.heatmaps[n, 0], expected, atol=1e-5)
        assert maps.scores[n, 0] == pytest.approx(score, rel=1e-4)
        expected, score = _region_reference(model, activations[n], 2, None)
        np.testing.assert_allclose(maps.heatmaps[n, 1], expected, atol=1e-5)


def test_region_with_score_cam_masks_the_region_of_the_original_image():
    model = segmentation_model()
    batch = _inputs(1, seed=9)
    predicted = np.asarray(model.predict(batch, verbose=0))[0].argmax(-1)
    common = int(np.bincount(predicted.ravel()).argmax())
    explainer = camlens.Explainer(model, layer="enc", method="scorecam")
    maps = explainer(batch, targets=Region(common))
    again = explainer(batch, targets=Region(common, predicted == common))
    assert maps.heatmaps.max() > 0
    np.testing.assert_allclose(maps.heatmaps, again.heatmaps, atol=1e-6)


# --- several outputs: Output ------------------------------------------------------


def two_headed_model() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = {
        "species": layers.Dense(3, activation="softmax", name="species_head")(x),
        "age": layers.Dense(1, name="age_head")(x),
    }
    return _seeded(keras.Model(inputs, outputs), seed=10)


def test_output_targets_explain_one_head_each():
    model = two_headed_model()
    batch = _inputs(2, seed=11)
    maps = camlens.Explainer(model, layer="conv")(
        batch, targets=[Output("species", 2), Output("age"), Output("species")]
    )

    activations = _activations(model, "conv", batch)
    ks, bs = (np.asarray(w, np.float64) for w in model.get_layer("species_head").get_weights())
    ka, _ = (np.asarray(w, np.float64) for w in model.get_layer("age_head").get_weights())
    assert set(maps.outputs) == {"species", "age"}
    for n in range(2):
        probs = _softmax(activations[n].mean(axis=(0, 1)) @ ks + bs)
        pooled = ks @ (probs[2] * (np.eye(3)[2] - probs))
        gradients = np.broadcast_to(pooled / SIZE**2, activations[n].shape)
        np.testing.assert_allclose(
            maps.heatmaps[n, 0], _gradcam(activations[n], gradients), atol=1e-5
        )
        gradients = np.broadcast_to(ka[:, 0] / SIZE**2, activations[n].shape)
        np.testing.assert_allclose(
            maps.heatmaps[n, 1], _gradcam(activations[n], gradients), atol=1e-5
        )
        assert maps.scores[n, 1] == pytest.approx(float(maps.outputs["age"][n, 0]), rel=1e-5)
        assert maps.targets[n, 2] == probs.argmax()


def test_explain_batch_slices_each_output_array():
    model = two_headed_model()
    batch = _inputs(5, seed=12)
    maps = camlens.explain_batch(model, batch, targets=[Output("age")], layer="conv", batch_size=2)
    predicted = model.predict(batch, verbose=0)
    for name in ("species", "age"):
        assert maps.outputs[name].shape[0] == 5
        np.testing.assert_allclose(maps.outputs[name], predicted[name], rtol=1e-5, atol=1e-6)


def test_a_callable_on_one_output_equals_the_class_id():
    model = two_headed_model()
    batch = _inputs(2, seed=13)
    explainer = camlens.Explainer(model, layer="conv")
    by_id = explainer(batch, targets=[Output("species", 1)])
    by_callable = explainer(batch, targets=[Output("species", lambda species: species[:, 1])])
    whole = explainer(batch, targets=[lambda outputs: outputs["species"][:, 1]])
    for maps in (by_callable, whole):
        np.testing.assert_allclose(maps.heatmaps, by_id.heatmaps, atol=1e-5)
        np.testing.assert_allclose(maps.scores, by_id.scores, rtol=1e-5)
        np.testing.assert_array_equal(maps.targets, [[-1], [-1]])


# --- callables and kinds: no new trace, no backward pass without gradients ----------


@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="torch has no trace: its Python runs every call"
)
def test_new_lambdas_and_masks_of_the_same_kind_do_not_retrace():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = layers.Conv2D(3, 1)(CountingIdentity()(x))
    model = _seeded(keras.Model(inputs, layers.Softmax()(x)), seed=14)
    explainer = camlens.Explainer(model, layer="conv")
    batch = _inputs(2, seed=15)
    pixel = np.zeros((SIZE, SIZE), bool)

    def call(k):
        pixel[:] = False
        pixel[k % SIZE, k % SIZE] = True
        return explainer(
            batch, targets=[lambda out, k=k: out[:, k % SIZE, 0, k % 3], Region(k % 3, pixel)]
        )

    call(0)
    traced = CountingIdentity.calls
    maps = [call(k) for k in range(1, 6)]
    assert CountingIdentity.calls == traced  # new lambdas, new masks: no new trace
    assert not np.allclose(maps[0].heatmaps, maps[1].heatmaps)  # and they were used


def test_methods_without_gradients_never_run_a_backward_pass(resnet):
    layer = resnet.get_layer("conv1")
    gradient_free = [name for name in class_methods() if not METHODS[name].gradients]
    assert {"eigencam", "scorecam"} <= set(gradient_free)
    for method in gradient_free:
        camlens.Explainer(resnet, layer=layer, method=method)(
            images(2), targets=[1, lambda p: p[:, 2]]
        )
    modes = {key[0] for key in probe.probe_for(resnet, layer)._compiled}
    assert "gradients" not in modes


def test_score_cam_runs_no_masked_pass_for_padding(resnet, monkeypatch):
    masked = []
    original = probe.Probe.scores

    def counting(self, batch, plan, score="output"):
        masked.append(len(batch))
        return original(self, batch, plan, score)

    monkeypatch.setattr(probe.Probe, "scores", counting)
    batch = images(5, seed=25)
    maps = camlens.explain_batch(resnet, batch, method="scorecam", layer="conv1", batch_size=4)
    channels = resnet.get_layer("conv1").filters
    assert sum(masked) == 5 * channels  # 5 images, not 8 (4 + 1 padded to 4)
    whole = camlens.Explainer(resnet, layer="conv1", method="scorecam")(batch)
    np.testing.assert_allclose(maps.heatmaps, whole.heatmaps, atol=1e-6)


# --- bad targets: clear errors ------------------------------------------------------


@pytest.mark.parametrize(
    "make_targets, error, words",
    [
        (lambda: np.array([1, 2, 3]), ValueError, "one row per image"),
        (lambda: np.array([[1.5, 2.0]]), TypeError, "integer class ids"),
        (lambda: np.array([0, CLASSES]), ValueError, "out of range"),
        (lambda: Region(1), ValueError, "segmentation output"),
        (lambda: Output("nope", 1), ValueError, "not an output"),
        (lambda: [lambda p: p], ValueError, "one score per image"),
    ],
)
def test_bad_targets_on_a_classifier(resnet, make_targets, error, words):
    with pytest.raises(error, match=words) as raised:
        camlens.Explainer(resnet)(images(2), targets=make_targets())
    assert "targets" in str(raised.value) or "Region" in str(raised.value)


def test_bad_targets_on_segmentation_and_multi_output_models():
    segmentation, heads = segmentation_model(), two_headed_model()
    with pytest.raises(ValueError, match=r"Region\(mask\) must have the output's spatial shape"):
        camlens.Explainer(segmentation)(_inputs(1), targets=Region(0, np.ones((4, 4), bool)))
    with pytest.raises(ValueError, match="Region"):
        camlens.Explainer(segmentation)(_inputs(1), targets=2)
    with pytest.raises(ValueError, match="Output"):
        camlens.Explainer(heads)(_inputs(1), targets=1)
    with pytest.raises(ValueError, match="out of range"):
        camlens.Explainer(heads)(_inputs(1), targets=Output(5))
    with pytest.raises(TypeError, match="boolean"):
        Region(0, np.ones((8, 8)))
    with pytest.raises(ValueError, match="no pixel"):
        Region(0, np.zeros((8, 8), bool))
    with pytest.raises(TypeError, match="class id"):
        Class("cat")
