"""More keras-hub families: MiT, HGNetV2, CSPNet and MobileNetV5 classifiers, and a DINOv3
transfer model, each at its automatic layer against a reference.

References: the classifier cut at the top-level layer holding the explained
layer (its own layers, run one after another), the class score differentiated by
the backend's autodiff, Grad-CAM in numpy; DINOv3's blocks run one by one.
"""

import warnings

import keras
import numpy as np
import pytest

import camlens
from support import families, hub
from support.hub import gradcam, gradient, images

keras_hub = pytest.importorskip("keras_hub")


@pytest.mark.parametrize("family", ["mit", "cspnet", "mobilenetv5"])
def test_a_keras_hub_classifier_matches_the_chain_reference(family):
    model = families.classifier(family)
    x = images((32, 32, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", camlens.ZeroGradientWarning)
        expl = camlens.explain_prediction(model, x, targets=[1], relu=False)
    heatmap = expl.targets[0].heatmap
    assert heatmap.shape[0] * heatmap.shape[1] > 1
    expected = hub.chain_reference(model, expl.layer, x, target=1)
    assert np.abs(heatmap - expected).max() < 1e-3
    assert np.abs(expected).std() > 0.05


def test_hgnetv2_is_explained_at_its_last_convolution_before_pooling():
    model = families.classifier("hgnetv2")
    x = images((32, 32, 3))
    explainer = camlens.Explainer(model, relu=False)
    maps = explainer(x, targets=1)
    head = model.get_layer("head_last")  # a 1x1 convolution block on the backbone's grid
    assert explainer.layer is head or explainer.layer in head._flatten_layers()
    features = model.backbone(x, training=False)[model.backbone.stage_names[-1]]
    activations = keras.ops.convert_to_numpy(head(features, training=False))
    after = model.layers[model.layers.index(head) + 1 :]

    def score(a):
        for layer in after:
            a = layer(a, training=False)
        return a[0, 1]

    _, grads = gradient(score, activations)
    expected = gradcam(activations[0], grads[0], relu=False)
    assert expected.shape[0] * expected.shape[1] > 1
    np.testing.assert_allclose(maps.heatmaps[0, 0], expected, atol=1e-4)


def test_a_dinov3_transfer_model_is_explained_at_its_patch_tokens():
    backbone = families.dinov3()
    inputs = keras.Input((32, 32, 3))
    tokens = backbone({"pixel_values": inputs})
    cls = keras.layers.Lambda(lambda t: t[:, 0], output_shape=(32,), name="cls")(tokens)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(cls))
    x = images((32, 32, 3), count=2, seed=4)
    explainer = camlens.Explainer(model, relu=False)
    maps = explainer(x, targets=2)
    # the class token: the last block's patch tokens do not reach it, the first's do
    assert explainer.layer.name == "layers_0"
    blocks = backbone.get_layer("encoder").layers
    image = keras.ops.convert_to_tensor(x)
    rope = backbone.get_layer("rope_embedding")(image)
    options = {"position_embeddings": rope, "num_prefix_tokens": 5}
    first = keras.ops.convert_to_numpy(
        blocks[0](backbone.get_layer("embeddings")(image), **options)
    )

    def score(t):
        out = backbone.get_layer("layernorm")(blocks[1](t, **options))
        return keras.ops.sum(model.get_layer("head")(out[:, 0])[:, 2])

    _, grads = gradient(score, first)
    grid = (4, 4, 32)  # 1 class and 4 register tokens dropped
    for n in range(2):
        expected = gradcam(first[n, 5:].reshape(grid), grads[n, 5:].reshape(grid), relu=False)
        np.testing.assert_allclose(maps.heatmaps[n, 0], expected, atol=1e-4)
