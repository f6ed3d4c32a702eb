"""Guided Grad-CAM against guided backpropagation written out on the numpy net."""

import numpy as np

import camlens
from camlens.resize import interpolation_matrix
from support.method_references import TARGET, gradcam_reference, normalized, reference_terms
from support.models import SIZE, residual_weights
from support.reference import conv_same, conv_same_backward, residual_forward


def guided_rule(gradient, pre_activation):
    """A ReLU's guided backward pass: positive gradients at positive inputs."""
    return gradient * (pre_activation > 0) * (gradient > 0)


def plain_rule(gradient, pre_activation):
    return gradient * (pre_activation > 0)


def input_gradient(doc, rule):
    """d p_TARGET / d image through the net, each ReLU's backward pass by `rule`."""
    w = [np.asarray(x, np.float64) for x in residual_weights()]
    image = doc[0].astype(np.float64)
    f = residual_forward(residual_weights(), image)
    probs = f["probs"]
    grad_logits = probs[TARGET] * (np.eye(len(probs))[TARGET] - probs)
    grad_merged = np.broadcast_to(w[6] @ grad_logits / (SIZE * SIZE), f["merged"].shape)
    grad_pre_merge = rule(grad_merged, f["pre_merge"])
    grad_a = conv_same_backward(grad_pre_merge, w[4])
    pre_a = conv_same(f["skip"], w[2], w[3])
    grad_skip = grad_pre_merge + conv_same_backward(rule(grad_a, pre_a), w[2])
    pre_skip = conv_same(image, w[0], w[1])
    return conv_same_backward(rule(grad_skip, pre_skip), w[0])


def guided_gradcam_reference(doc, a, g, rule):
    cam = normalized(gradcam_reference(a, g))
    rows, cols = interpolation_matrix(SIZE, a.shape[0]), interpolation_matrix(SIZE, a.shape[1])
    saliency = np.abs(input_gradient(doc, rule)).max(axis=-1)
    return normalized((rows @ cam @ cols.T) * saliency / saliency.max())


def test_guided_gradcam_is_grad_cam_times_guided_backprop(resnet):
    doc, a, g = reference_terms("output")
    reference = guided_gradcam_reference(doc, a, g, guided_rule)
    plain = guided_gradcam_reference(doc, a, g, plain_rule)
    assert not np.allclose(reference, plain, atol=1e-2)  # the gates matter here

    relus = [resnet.get_layer(name) for name in ("conv0", "conv1", "merged_relu")]
    before = [dict(vars(layer)) for layer in relus]

    expl = camlens.explain_prediction(
        resnet, doc, targets=[TARGET], layer="conv1", method="guided-gradcam"
    )

    np.testing.assert_allclose(expl.targets[0].heatmap, reference, atol=2e-5)
    assert expl.targets[0].heatmap.shape == (SIZE, SIZE)  # the input's resolution
    for layer, attributes in zip(relus, before):  # the ReLUs are as they were
        assert vars(layer).get("call") is attributes.get("call")
        assert vars(layer).get("activation") is attributes.get("activation")


def test_guided_gradcam_refuses_a_model_without_relu():
    import keras
    import pytest

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="tanh")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    with pytest.raises(ValueError, match="needs ReLU activations"):
        camlens.explain_prediction(model, reference_terms("output")[0], method="guided-gradcam")


def test_guided_gradcam_of_a_callable_target_equals_its_class(resnet):
    doc = reference_terms("output")[0]
    explainer = camlens.Explainer(resnet, layer="conv1", method="guided-gradcam")
    by_id = explainer(doc, targets=[TARGET]).heatmaps
    by_callable = explainer(doc, targets=[lambda p: p[:, TARGET]]).heatmaps
    np.testing.assert_allclose(by_callable, by_id, atol=1e-6)
