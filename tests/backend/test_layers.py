"""Layer resolution: instance, name, index, automatic; nested and subclassed models."""

import warnings

import keras
import numpy as np
import pytest
from keras import layers

import camlens
from support.hub import gradcam, gradient
from support.models import SIZE, images, nested_functional, nested_sequential, subclassed_resnet


def explained_layer(model, layer):
    return camlens.explain_prediction(model, images(), layer=layer).layer


def test_by_name_index_and_instance(resnet):
    conv1 = resnet.get_layer("conv1")
    index = resnet.layers.index(conv1)
    assert explained_layer(resnet, "conv1") == "conv1"
    assert explained_layer(resnet, index) == "conv1"
    assert explained_layer(resnet, index - len(resnet.layers)) == "conv1"
    assert explained_layer(resnet, conv1) == "conv1"


def test_automatic_choice_is_the_last_4d_layer(resnet):
    assert explained_layer(resnet, None) == "merged_relu"


@pytest.mark.parametrize("build", [nested_sequential, nested_functional])
def test_nested_base_by_name_instance_and_automatically(build):
    model = build()
    base = model.get_layer("base")
    flat = camlens.explain_prediction(model, images(), layer="conv1").targets[0].heatmap
    by_instance = camlens.explain_prediction(model, images(), layer=base.get_layer("conv1"))
    np.testing.assert_array_equal(by_instance.targets[0].heatmap, flat)
    # the automatic search descends into the base model
    assert explained_layer(model, None) == "merged_relu"


def test_nested_base_model_itself_can_be_the_layer():
    model = nested_sequential()
    inner = camlens.explain_prediction(model, images(), layer="merged_relu").targets[0].heatmap
    whole = camlens.explain_prediction(model, images(), layer="base").targets[0].heatmap
    np.testing.assert_allclose(whole, inner, atol=1e-6)


def test_subclassed_automatic_choice_follows_call_order():
    class Reordered(keras.Model):
        """Attributes declared in another order than they run."""

        def __init__(self):
            super().__init__()
            self.late = layers.Conv2D(3, 3, name="late")
            self.early = layers.Conv2D(4, 3, name="early")
            self.pool = layers.GlobalAveragePooling2D()
            self.head = layers.Dense(2)

        def call(self, x):
            return self.head(self.pool(self.late(self.early(x))))

    model = Reordered()
    model(images())
    assert explained_layer(model, None) == "late"
    assert explained_layer(model, "early") == "early"


def test_subclassed_by_name_and_instance():
    model = subclassed_resnet()
    assert explained_layer(model, "conv1") == "conv1"
    assert explained_layer(model, model.conv0) == "conv0"


def test_unknown_name_suggests_close_names(resnet):
    with pytest.raises(ValueError, match="No layer named 'conv_1'.*'conv1'") as raised:
        explained_layer(resnet, "conv_1")
    assert "layer=" in str(raised.value)


def test_index_out_of_range(resnet):
    with pytest.raises(ValueError, match="out of range"):
        explained_layer(resnet, 99)


@pytest.mark.parametrize("bad", [1.5, True, ["conv1"], object()])
def test_layer_of_the_wrong_type(resnet, bad):
    with pytest.raises(TypeError, match="layer must be"):
        explained_layer(resnet, bad)


@pytest.mark.parametrize("name", ["pool", "predictions"])
def test_layer_without_4d_output(resnet, name):
    with pytest.raises(ValueError, match="4-D"):
        explained_layer(resnet, name)


def test_subclassed_layer_without_4d_output():
    model = subclassed_resnet()
    with pytest.raises(ValueError, match="4-D"):
        explained_layer(model, "predictions")
    assert all("call" not in vars(layer) for layer in model._flatten_layers())


def test_layer_of_another_model(resnet):
    stranger = layers.Conv2D(2, 3, name="stranger")
    with pytest.raises(ValueError, match="not a layer of model"):
        explained_layer(resnet, stranger)


def test_layer_not_run_in_the_forward_pass():
    class Idle(keras.Model):
        def __init__(self):
            super().__init__()
            self.used = layers.Conv2D(3, 3, name="used")
            self.unused = layers.Conv2D(3, 3, name="unused")
            self.pool = layers.GlobalAveragePooling2D()

        def call(self, x):
            return self.pool(self.used(x))

    model = Idle()
    model(images())
    model.unused.build((None, SIZE, SIZE, 3))
    with pytest.raises(ValueError, match="did not run"):
        explained_layer(model, "unused")


def test_shared_layer_is_refused():
    inputs = keras.Input((SIZE, SIZE, 3))
    shared = layers.Conv2D(3, 3, padding="same", name="shared")
    x = shared(shared(inputs))
    model = keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling2D()(x)))
    with pytest.raises(ValueError, match="more than once"):
        explained_layer(model, "shared")


HUB_CNNS = ["resnet", "densenet", "vgg", "xception", "efficientnet", "mobilenet"]


@pytest.mark.parametrize("family", HUB_CNNS)
def test_keras_hub_cnn_automatic_layer_matches_a_reference(family):
    pytest.importorskip("keras_hub")
    from support import hub as hub_models

    model = hub_models.cnn_classifier(family)
    x = hub_models.images((32, 32, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", camlens.ZeroGradientWarning)
        expl = camlens.explain_prediction(model, x, targets=[1], relu=False)
    heatmap = expl.targets[0].heatmap
    assert heatmap.shape[0] * heatmap.shape[1] > 1
    expected = hub_models.chain_reference(model, expl.layer, x, target=1)
    assert np.abs(heatmap - expected).max() < 1e-3
    assert np.abs(expected).std() > 0.05  # a map that locates something


def test_mobilenet_v3_automatic_layer_is_not_the_1x1_head():
    model = keras.applications.MobileNetV3Small(
        input_shape=(64, 64, 3), weights=None, classes=CLASSES_V3, include_preprocessing=False
    )
    explainer = camlens.Explainer(model)
    maps = explainer(np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32))
    assert maps.heatmaps.shape[2] * maps.heatmaps.shape[3] > 1
    assert explainer.layer.name not in ("logits", "conv_2")
    assert len(explainer.layer.output.shape) == 4 and explainer.layer.output.shape[1] > 1


CLASSES_V3 = 3


def test_a_settled_layer_the_score_does_not_depend_on_is_passed_over():
    # class 0 reads only branch a, class 1 only branch b (conv_b runs last)
    inputs = keras.Input((SIZE, SIZE, 3))
    branch_a = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, name="conv_a")(inputs))
    branch_b = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, name="conv_b")(inputs))
    scores = layers.Concatenate()([layers.Dense(1)(branch_a), layers.Dense(1)(branch_b)])
    model = keras.Model(inputs, scores)
    x = images()
    assert camlens.explain_prediction(model, x, targets=[0]).layer == "conv_a"
    assert camlens.explain_prediction(model, x, targets=[1]).layer == "conv_b"  # conv_a tried first
    assert camlens.explain_prediction(model, x, targets=[0]).layer == "conv_a"


class TwoGrids(layers.Layer):
    """Returns a coarse and a fine grid, as a feature pyramid's neck does."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.coarse = layers.Conv2D(4, 3, strides=2, padding="same")
        self.fine = layers.Conv2D(5, 3, padding="same")

    def call(self, x):
        return [self.coarse(x), self.fine(x)]


def _two_grid_model(read_coarse: bool):
    inputs = keras.Input((SIZE, SIZE, 3))
    coarse, fine = TwoGrids(name="neck")(inputs)
    pooled = [layers.GlobalAveragePooling2D()(fine)]
    if read_coarse:
        pooled.append(layers.GlobalAveragePooling2D()(coarse))
    features = pooled[0] if len(pooled) == 1 else layers.Concatenate()(pooled)
    return keras.Model(inputs, layers.Dense(3, name="logits")(features))


def test_the_automatic_choice_takes_the_tensor_of_a_layer_the_model_reads():
    """A layer returning two grids, of which the model reads only the second: the
    automatic choice explains that one (it used to pass over the layer, whose first
    tensor the score does not depend on)."""
    model, x = _two_grid_model(read_coarse=False), images(count=2)
    explainer = camlens.Explainer(model, relu=False)
    maps = explainer(x, targets=[2])
    assert explainer.layer.name == "neck" and explainer.output_index == 1
    neck = model.get_layer("neck")
    fine = keras.ops.convert_to_numpy(neck(keras.ops.convert_to_tensor(x))[1])
    tail = model.layers[model.layers.index(neck) + 1 :]

    for n in range(len(x)):

        def score(a):
            for layer in tail:
                a = layer(a)
            return a[0, 2]

        value, grads = gradient(score, fine[n : n + 1])
        np.testing.assert_allclose(
            maps.heatmaps[n, 0], gradcam(fine[n], grads[0], relu=False), atol=1e-4
        )
        assert maps.scores[n, 0] == pytest.approx(float(value), rel=1e-4)
    # `explain_methods` explains the same tensor; an explicit choice still works
    methods = camlens.explain_methods(
        model, x, methods=["layercam", "gradcam"], targets=[2], relu=False
    )
    np.testing.assert_allclose(methods["gradcam"].heatmaps, maps.heatmaps, atol=1e-6)
    # the first tensor, given, is explained, and said to be one the score ignores
    with pytest.warns(camlens.ZeroGradientWarning, match="layer 'neck'"):
        coarse = camlens.Explainer(model, layer="neck", output_index=0)(x, targets=[2])
    assert coarse.heatmaps.shape[2:] == (SIZE // 2, SIZE // 2)


def test_the_automatic_choice_keeps_a_layers_first_tensor_when_the_model_reads_it():
    model = _two_grid_model(read_coarse=True)
    explainer = camlens.Explainer(model)
    explainer(images(), targets=[0])
    assert explainer.layer.name == "neck" and explainer.output_index == 0
