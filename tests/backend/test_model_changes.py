"""A model changed in place is described again, never explained from a stale cache.

The inspection (where the logit is), the data format and the compiled probes
are cached per model; each case explains, changes the model in place, and
explains again, against Grad-CAM computed here from the backend's own autodiff
over the model as it is now.
"""

import keras
import numpy as np

import camlens
from support.hub import gradient

CLASSES = 3


def cnn(activation):
    """Conv2D 'conv' (relu) -> average pooling -> Dense(3) 'head', numpy weights."""
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(CLASSES, activation=activation, name="head"),
        ]
    )
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.weights])
    return model


def doc():
    return np.random.default_rng(1).uniform(0, 1, (1, 12, 12, 3)).astype(np.float32)


def conv_activations(model, x):
    """'conv' (3x3, valid, relu) written with numpy: (1, 10, 10, 6)."""
    kernel, bias = model.get_layer("conv").get_weights()
    out = np.zeros((1, 10, 10, kernel.shape[-1]))
    for i in range(10):
        for j in range(10):
            out[0, i, j] = np.einsum("abc,abcd->d", x[0, i : i + 3, j : j + 3], kernel) + bias
    return np.maximum(out, 0).astype(np.float32)


def reference(model, x, target, softmax):
    """Signed Grad-CAM at 'conv' of the last layer's logit (or its softmax) for `target`."""
    activations = conv_activations(model, x)
    kernel, bias = (keras.ops.convert_to_tensor(w) for w in model.layers[-1].get_weights())

    def score(a):
        logits = keras.ops.matmul(keras.ops.mean(a, axis=(1, 2)), kernel) + bias
        return (keras.ops.softmax(logits) if softmax else logits)[0, target]

    _, grads = gradient(score, activations)
    raw = (activations[0] * grads[0].mean(axis=(0, 1))).sum(axis=-1)
    return raw / (np.abs(raw).max() + 1e-7)


def logits_of(model, x):
    kernel, bias = model.layers[-1].get_weights()
    return conv_activations(model, x).mean(axis=(1, 2)) @ kernel + bias


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_a_softmax_put_back_on_the_last_layer_is_seen():
    model, x = cnn(activation=None), doc()
    explainer = camlens.Explainer(model, layer="conv", score="logit", relu=False)
    logit_map = reference(model, x, 1, softmax=False)
    np.testing.assert_allclose(explainer(x, targets=[1]).heatmaps[0, 0], logit_map, atol=1e-5)

    model.layers[-1].activation = keras.activations.softmax

    maps = explainer(x, targets=[1])  # the same explainer, its probe compiled before
    np.testing.assert_allclose(maps.heatmaps[0, 0], logit_map, atol=1e-5)
    np.testing.assert_allclose(maps.outputs, softmax(logits_of(model, x)), atol=1e-5)
    output_map = reference(model, x, 1, softmax=True)
    assert np.abs(output_map - logit_map).max() > 0.05  # the two scores differ here
    expl = camlens.explain_prediction(model, x, targets=[1], layer="conv", relu=False)
    np.testing.assert_allclose(expl.targets[0].heatmap, output_map, atol=1e-5)


def test_a_softmax_taken_off_the_last_layer_is_seen():
    model, x = cnn(activation="softmax"), doc()
    for score in ("logit", "output"):  # both compiled for the softmax model
        camlens.explain_prediction(model, x, targets=[2], layer="conv", score=score)

    model.layers[-1].activation = keras.activations.linear

    logit_map = reference(model, x, 2, softmax=False)
    for score in ("logit", "output"):  # the output is now the logit itself
        maps = camlens.Explainer(model, layer="conv", score=score, relu=False)(x, targets=[2])
        np.testing.assert_allclose(maps.heatmaps[0, 0], logit_map, atol=1e-5)
        np.testing.assert_allclose(maps.outputs, logits_of(model, x), atol=1e-5)


def test_a_new_head_on_a_sequential_is_seen():
    model, x = cnn(activation="softmax"), doc()
    explainer = camlens.Explainer(model, relu=False)  # the automatic layer
    explainer(x, targets=[2])

    model.pop()
    head = keras.layers.Dense(CLASSES + 1, activation="softmax", name="new_head")
    model.add(head)
    rng = np.random.default_rng(5)
    head.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in head.weights])

    maps = explainer(x, targets=[CLASSES])  # a class the old head did not have
    assert explainer.layer.name == "conv" and maps.outputs.shape == (1, CLASSES + 1)
    expected = reference(model, x, CLASSES, softmax=True)
    np.testing.assert_allclose(maps.heatmaps[0, 0], expected, atol=1e-5)


def test_a_capture_in_another_context_is_no_change():
    """A forward pass in another thread shadows the layer's activation while it
    runs (`model.capture`); the check sees the activation the layer has."""
    from camlens.model.capture import capture
    from camlens.model.state import refresh

    model = cnn(activation="softmax")
    refresh(model)
    head = model.layers[-1]
    with capture({(head, "activation"): lambda original, *a, **k: original(*a, **k)}):
        assert head.activation is not keras.activations.softmax  # the shadow
        assert not refresh(model)
    head.activation = keras.activations.linear
    assert refresh(model) and not refresh(model)
