"""The model inspection: layer specs, class axis, and the score before the last activation."""

import gc
import weakref

import keras
import numpy as np
import pytest
from keras import layers

import camlens
from camlens.model.inspection import inspect

SIZE, CLASSES = 10, 4


def trunk_and_head():
    """A conv trunk and a linear head, seeded, shared by each way of ending in softmax."""
    keras.utils.set_random_seed(0)
    conv = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")
    pool = layers.GlobalAveragePooling2D(name="pool")
    dense = layers.Dense(CLASSES, name="dense")
    x = keras.Input((SIZE, SIZE, 3))
    keras.Model(x, dense(pool(conv(x))))  # builds the layers
    rng = np.random.default_rng(0)
    for layer in (conv, dense):
        layer.set_weights(
            [rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()]
        )
    return conv, pool, dense


def functional(end):
    conv, pool, dense = trunk_and_head()
    x = keras.Input((SIZE, SIZE, 3))
    return keras.Model(x, end(dense(pool(conv(x)))))


class Subclassed(keras.Model):
    def __init__(self, activation):
        super().__init__()
        self.conv, self.pool, self.dense = trunk_and_head()
        self.activation_fn = activation

    def call(self, x):
        return self.activation_fn(self.dense(self.pool(self.conv(x))))


def built(model):
    model(np.zeros((1, SIZE, SIZE, 3), np.float32))
    return model


def with_dense_activation(activation):
    conv, pool, dense = trunk_and_head()
    weights = dense.get_weights()
    head = layers.Dense(CLASSES, activation=activation, name="dense_act")
    x = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(x, head(pool(conv(x))))
    head.set_weights(weights)
    return model


SOFTMAX_ENDINGS = {
    "softmax_layer": lambda: functional(layers.Softmax()),
    "activation_layer": lambda: functional(layers.Activation("softmax")),
    "dense_activation": lambda: with_dense_activation("softmax"),
    "ops_softmax_in_graph": lambda: functional(keras.ops.softmax),
    "ops_softmax_in_call": lambda: built(Subclassed(keras.ops.softmax)),
    "ops_sigmoid_in_call": lambda: built(Subclassed(keras.ops.sigmoid)),
    "sigmoid_then_dropout": lambda: functional(
        lambda t: layers.Dropout(0.5)(layers.Activation("sigmoid")(t))
    ),
}


def images(count=2):
    return np.random.default_rng(5).uniform(0, 1, (count, SIZE, SIZE, 3)).astype(np.float32)


@pytest.mark.parametrize("ending", sorted(SOFTMAX_ENDINGS))
def test_logit_is_the_score_before_the_last_activation(ending):
    model = SOFTMAX_ENDINGS[ending]()
    linear = functional(lambda t: t)  # the same weights, ending at the logits
    explained = camlens.Explainer(model, layer="conv", score="logit")(images(), targets=[1, 3])
    expected = camlens.Explainer(linear, layer="conv", score="output")(images(), targets=[1, 3])
    np.testing.assert_allclose(explained.scores, expected.scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(explained.heatmaps, expected.heatmaps, atol=1e-5)
    probabilities = camlens.Explainer(model, layer="conv", score="output")(images(), targets=[1, 3])
    assert np.abs(probabilities.scores - expected.scores).max() > 0.1  # not the same score


@pytest.mark.parametrize(
    "end",
    [
        lambda t: layers.Lambda(lambda p: p * 2.0)(layers.Softmax()(t)),
        lambda t: layers.Reshape((CLASSES,))(keras.ops.exp(t) / keras.ops.sum(keras.ops.exp(t))),
    ],
    ids=["lambda_after_softmax", "hand_written_softmax"],
)
def test_logit_that_cannot_be_found_is_refused(end):
    model = functional(end)
    with pytest.raises(ValueError, match="could not find.*score='output'"):
        camlens.explain_prediction(model, images(1), layer="conv", score="logit")
    # Grad-CAM++ explains the logit by default: refused the same way
    with pytest.raises(ValueError, match="score='output'"):
        camlens.explain_prediction(model, images(1), layer="conv", method="gradcam++")
    camlens.explain_prediction(model, images(1), layer="conv", method="gradcam++", score="output")


def test_a_linear_output_is_its_own_logit():
    model = functional(lambda t: t)
    logit = camlens.Explainer(model, layer="conv", score="logit")(images(), targets=[2])
    output = camlens.Explainer(model, layer="conv", score="output")(images(), targets=[2])
    np.testing.assert_array_equal(logit.heatmaps, output.heatmaps)


def test_specs_of_every_layer_and_the_class_axis():
    model = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), functional(layers.Softmax())], name="outer"
    )
    inspection = inspect(model, (7, SIZE, SIZE, 3))
    inner = model.layers[0]
    assert inspection.output_shape(inner.get_layer("conv")) == (1, SIZE, SIZE, 6)
    assert inspection.output_shape(inner.get_layer("pool")) == (1, 6)
    assert inspection.num_classes == CLASSES
    names = [layer.name for layer in inspection.layers_in_call_order()]
    assert names.index("conv") < names.index("pool") < names.index("dense")
    assert inspect(model, (3, SIZE, SIZE, 3)) is inspection  # one per input shape


def test_the_inspection_does_not_keep_the_model_alive():
    model = functional(layers.Softmax())
    inspect(model, (1, SIZE, SIZE, 3))
    reference = weakref.ref(model)
    del model
    gc.collect()
    assert reference() is None


def test_the_model_is_unchanged_by_the_inspection():
    model = built(Subclassed(keras.ops.softmax))
    before = {id(layer): dict(vars(layer)) for layer in model._flatten_layers()}
    softmax = keras.src.backend.nn.softmax
    inspect(model, (1, SIZE, SIZE, 3))
    for layer in model._flatten_layers():
        assert "call" not in vars(layer)
        assert vars(layer).keys() == before[id(layer)].keys()
    assert keras.src.backend.nn.softmax is softmax  # the backend function is restored
