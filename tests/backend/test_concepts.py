"""`camlens.concepts.discover` end to end on a small model: the concepts are those
learned from the layer's output and the analytic gradient of the class logit."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from camlens.concepts import ConceptBatch, discover, fit_concepts

SIZE, CHANNELS, CLASSES = 12, 6, 3


@pytest.fixture(scope="module")
def model():
    """conv (ReLU) -> global average -> dense -> softmax: the logit of class c is
    b_c + mean over positions of w_c . A, so its gradient at every position is w_c / (h w)."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(CHANNELS, 3, padding="same", activation="relu", name="features")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    logits = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, layers.Activation("softmax")(logits))


def data(count: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (count, SIZE, SIZE, 3)).astype(np.float32), rng.integers(
        0, CLASSES, count
    )


def test_discover_factorises_the_layer_and_weighs_by_the_logit_gradient(model):
    images, labels = data(24, seed=0)
    found = discover(model, images, labels, concepts=3, layer="features", batch_size=8, epochs=2)
    assert found.layer == "features" and sorted(found.per_class) == [0, 1, 2]

    # the reference: the layer's output from a sub-model, the logit's gradient by hand
    activations = keras.Model(model.input, model.get_layer("features").output).predict(
        images, verbose=0
    )
    weights, bias = (np.asarray(w) for w in model.get_layer("logits").get_weights())
    gradients = np.broadcast_to(
        weights.T[labels][:, None, None, :] / SIZE**2, activations.shape
    ).astype(np.float32)
    reference, reference_images = fit_concepts(
        lambda: [ConceptBatch(np.arange(24), labels, activations, gradients)], 3, epochs=2
    )
    for class_id, concepts in found.per_class.items():
        np.testing.assert_allclose(concepts.bases, reference[class_id].bases, atol=2e-4)
        np.testing.assert_allclose(
            concepts.importance, reference[class_id].importance, rtol=1e-3, atol=1e-5
        )
        assert concepts.images == int((labels == class_id).sum())
    np.testing.assert_array_equal(found.images.ids, reference_images.ids)


def test_explain_measures_new_images_against_the_learned_concepts(model):
    images, labels = data(24, seed=1)
    found = discover(model, images, labels, concepts=2, layer="features", batch_size=8)
    new, _ = data(5, seed=2)
    maps = found.explain(model, new)  # each image's top prediction
    predicted = model.predict(new, verbose=0).argmax(-1)
    np.testing.assert_array_equal(maps.classes, predicted)
    assert maps.maps.shape == (5, 2, SIZE, SIZE)
    assert (maps.maps >= 0).all()
    np.testing.assert_allclose(maps.coefficients, maps.maps.mean(axis=(2, 3)))
    # a map rebuilds the layer: activations ~ sum_j maps_j * bases_j
    activations = keras.Model(model.input, model.get_layer("features").output).predict(
        new, verbose=0
    )
    for n in range(5):
        bases = found.per_class[int(predicted[n])].bases
        rebuilt = np.einsum("khw,kc->hwc", maps.maps[n], bases)
        error = np.linalg.norm(rebuilt - activations[n]) / np.linalg.norm(activations[n])
        assert error < 0.6  # 2 concepts of 6 channels: a rough but real fit


def test_concepts_refuse_what_they_cannot_describe(model):
    images, labels = data(8, seed=3)
    linear = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            layers.Conv2D(4, 3, name="signed"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(2),
        ]
    )
    with pytest.raises(ValueError, match="negative activations"):
        discover(linear, images, labels % 2, concepts=2, layer="signed")
    with pytest.raises(ValueError, match="at most the layer's channels"):
        discover(model, images, labels, concepts=CHANNELS + 1, layer="features")
    with pytest.raises(ValueError, match="classes must be"):
        discover(model, images, labels[:3], layer="features")
    found = discover(model, images, np.zeros(8, int), concepts=2, layer="features")
    with pytest.raises(ValueError, match="class 1 has no learned concepts"):
        found.explain(model, images[:2], classes=np.array([0, 1]))


def test_the_output_pass_also_gives_the_class_logit_gradients(model):
    """One probe pass explaining the softmax output gives, besides the output's
    gradients, the class logit's (what the audit's concepts weigh by): both
    against their analytic values on conv -> global average -> dense -> softmax."""
    from camlens import Explainer

    images, labels = data(6, seed=4)
    weights = np.asarray(model.get_layer("logits").get_weights()[0])  # (channels, classes)
    probabilities = model.predict(images, verbose=0)
    shape = (6, SIZE, SIZE, CHANNELS)
    for targets in (labels, None):  # given classes, and each image's top prediction
        explainer = Explainer(model, layer="features")
        explainer.logit_gradients = True
        _, result = explainer.probe_pass(explainer.prepare(images), targets, pad_to=8)
        classes = probabilities.argmax(-1) if targets is None else labels
        np.testing.assert_array_equal(result.targets[:, 0], classes)
        # at every position: dz_c = w_c / (h w); d softmax_c = p_c (dz_c - sum_j p_j dz_j)
        logit = weights.T[classes] / SIZE**2
        chosen = probabilities[np.arange(6), classes][:, None]
        output = chosen * (logit - probabilities @ weights.T / SIZE**2)
        for found, expected in ((result.logit_gradients, logit), (result.gradients, output)):
            assert found.shape == (6, 1) + shape[1:]
            everywhere = np.broadcast_to(expected[:, None, None, :], shape)
            np.testing.assert_allclose(found[:, 0], everywhere, rtol=1e-4, atol=1e-8)

    # explaining the logit already, the logit gradients are the pass's own
    explainer = Explainer(model, layer="features", score="logit")
    explainer.logit_gradients = True
    _, result = explainer.probe_pass(explainer.prepare(images), labels)
    np.testing.assert_array_equal(result.logit_gradients, result.gradients)
    # a method without a backward pass, or a target that is not a class, is refused
    explainer = Explainer(model, layer="features", method="eigencam")
    explainer.logit_gradients = True
    with pytest.raises(ValueError, match="logit gradients are taken for class targets"):
        explainer.probe_pass(explainer.prepare(images), labels)
