"""FullGrad: the bias gradients of one backward pass, the full-gradient
decomposition they complete, and the map, against references written here.

References: the completeness of the decomposition on a ReLU network (analytic);
the numpy residual net's backward pass written out by hand (`support.reference`);
the backend's own autodiff for the input gradient and camlens's per-layer probe
(one pass per layer, the explained-layer path, not the site watch) for the
gradient at each BatchNormalization; the authors' post-processing in numpy; and
pytorch-grad-cam's `FullGrad` on a torch port of the ReLU network.
"""

import keras
import numpy as np
import pytest

import camlens
from support.fullgrad import fullgrad_map, input_gradient
from support.grad_cam_port import relu_cnn, theirs, torch_port
from support.mobilenet import astronaut, mobilenet_v2
from support.models import SIZE, functional_resnet, images, residual_weights
from support.multilayer import bilinear
from support.reference import conv_same, conv_same_backward, head_gradient, residual_forward


def fullgrad_inputs(model, x, targets, **options):
    """`(input gradients, [(bias, gradients)])` of camlens's FullGrad pass."""
    explainer = camlens.Explainer(model, method="fullgrad", **options)
    inputs, _, _ = explainer.method_inputs(explainer.prepare(x), targets)
    return inputs.bias_gradients()


def layer_gradients(model, x, layer, target):
    """(activations, gradients) at `layer`'s output from camlens's per-layer probe."""
    explainer = camlens.Explainer(model, layer=layer)
    _, result = explainer.probe_pass(explainer.prepare(x), [target])
    return result.activations, result.gradients[:, 0]


def test_the_decomposition_is_complete_on_a_relu_cnn():
    """logit = sum(dy/dx x) + sum over sites of sum(b dy/dz) + the Dense bias."""
    model = relu_cnn()
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype(np.float32)
    targets = [2, 0]
    on_input, sites = fullgrad_inputs(model, x, targets)
    assert [g.shape[2:] for _, g in sites] == [(16, 16, 8), (16, 16, 8), (8, 8, 6)]
    logits = keras.ops.convert_to_numpy(model(x))
    dense_bias = keras.ops.convert_to_numpy(model.get_layer("logits").bias)
    bias_terms = []
    for k, target in enumerate(targets):
        for n in range(len(x)):
            bias_terms.append(sum((bias * g[n, k]).sum() for bias, g in sites))
            total = (on_input[n, k] * x[n]).sum() + dense_bias[target] + bias_terms[-1]
            assert abs(total - logits[n, target]) < 1e-4, (n, target)
    assert max(np.abs(bias_terms)) > 0.1  # the biases count


def test_gradients_and_map_on_the_relu_cnn_against_per_layer_probes():
    """The fused ReLU's site is its input: the probe's gradient at the conv's output
    times the ReLU's derivative; BatchNormalization's is its output."""
    model = relu_cnn()
    x = np.random.default_rng(2).normal(size=(1, 16, 16, 3)).astype(np.float32)
    on_input, sites = fullgrad_inputs(model, x, [1])
    expected = []
    for name in ("conv_a", "bn", "conv_c"):
        a, g = layer_gradients(model, x, name, 1)
        expected.append(g if name == "bn" else g * (a > 0))
    for (_, got), want in zip(sites, expected):
        np.testing.assert_allclose(got[:, 0], want, atol=1e-5)
    np.testing.assert_allclose(on_input[:, 0], input_gradient(model, x, 1), atol=1e-5)

    biases = [bias for bias, _ in sites]
    reference = fullgrad_map(x[0], input_gradient(model, x, 1)[0], biases, [g[0] for g in expected])
    heatmap = camlens.Explainer(model, method="fullgrad")(x, targets=[1]).heatmaps[0, 0]
    np.testing.assert_allclose(heatmap, reference, atol=1e-4)


def numpy_full_gradients(image, target):
    """The residual net's dlogit/dx and dlogit/dz at its three conv biases, by hand."""
    k0, b0, k1, b1 = (np.asarray(w, np.float64) for w in residual_weights()[:4])
    f = residual_forward(residual_weights(), image)
    grad_a, grad_pre_merge = head_gradient(f, target, "logit")
    pre_skip = conv_same(image.astype(np.float64), k0, b0)
    pre_a = conv_same(f["skip"], k1, b1)
    grad_z1 = grad_a * (pre_a > 0)
    grad_z0 = (grad_pre_merge + conv_same_backward(grad_z1, k1)) * (pre_skip > 0)
    return conv_same_backward(grad_z0, k0), [grad_z0, grad_z1, grad_pre_merge]


def test_gradients_and_map_against_the_numpy_net():
    x = images(2, seed=5)
    on_input, sites = fullgrad_inputs(functional_resnet(), x, [3], score="logit")
    heatmaps = camlens.Explainer(functional_resnet(), method="fullgrad", score="logit")(
        x, targets=[3]
    ).heatmaps
    weights = residual_weights()
    for n in range(len(x)):
        g_x, g_sites = numpy_full_gradients(x[n], 3)
        np.testing.assert_allclose(on_input[n, 0], g_x, atol=1e-5)
        for (bias, got), want, given in zip(sites, g_sites, weights[1:6:2]):
            np.testing.assert_allclose(bias, given)
            np.testing.assert_allclose(got[n, 0], want, atol=1e-5)
        reference = fullgrad_map(x[n], g_x, weights[1:6:2], g_sites)
        np.testing.assert_allclose(heatmaps[n, 0], reference, atol=1e-4)


def randomised_batchnorm(model, seed=5):
    """beta and moving_mean drawn at random: else every implicit bias is zero."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable in (layer.beta, layer.moving_mean):
                variable.assign(rng.normal(0, 0.1, variable.shape).astype(np.float32))
    return model


CHECKED = ("bn_Conv1", "block_6_depthwise_BN", "Conv_1_bn")
"""Three of the 52 sites (the first, one in the middle, the last): one probe pass each."""


def test_mobilenet_with_biases_against_per_layer_probes_and_the_map():
    model = randomised_batchnorm(mobilenet_v2())
    x = astronaut()
    target = int(np.argmax(keras.ops.convert_to_numpy(model(x))))
    explainer = camlens.Explainer(model, method="fullgrad")
    inputs, _, _ = explainer.method_inputs(explainer.prepare(x), [target])
    on_input, sites = inputs.bias_gradients()
    names = [
        layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(sites) == len(names) == 52
    np.testing.assert_allclose(on_input[:, 0], input_gradient(model, x, target), atol=1e-5)
    for name in CHECKED:
        bias, got = sites[names.index(name)]
        layer = model.get_layer(name)
        gamma, beta, mean, variance = (
            keras.ops.convert_to_numpy(v).astype(np.float64)
            for v in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
        )
        np.testing.assert_allclose(bias, beta - mean * gamma / np.sqrt(variance + 1e-3), atol=1e-6)
        _, want = layer_gradients(model, x, name, target)
        scale = np.abs(want).max()
        assert scale > 0
        np.testing.assert_allclose(got[:, 0], want, atol=1e-4 * max(scale, 1))
    heatmap = explainer(x, targets=[target]).heatmaps[0, 0]
    reference = fullgrad_map(
        x[0], on_input[0, 0], [b for b, _ in sites], [g[0, 0] for _, g in sites]
    )
    np.testing.assert_allclose(heatmap, reference, atol=1e-4)


def test_fullgrad_refuses_a_counterfactual_and_several_inputs():
    with pytest.raises(ValueError, match="FullGrad sums the magnitudes"):
        camlens.Explainer(functional_resnet(), method="fullgrad", counterfactual=True)
    first, second = keras.Input((SIZE, SIZE, 3)), keras.Input((2,))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(first))
    joined = keras.layers.Concatenate()([pooled, second])
    model = keras.Model([first, second], keras.layers.Dense(3)(joined), name="two")
    with pytest.raises(
        ValueError, match="FullGrad differentiates with respect to the model's input"
    ):
        camlens.Explainer(model, method="fullgrad")


def test_a_batchnorm_off_the_channel_axis_is_refused():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(axis=1, name="rows")(x)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs, name="odd")
    with pytest.raises(ValueError, match="'rows' of model 'odd' normalises axis 1"):
        camlens.Explainer(model, method="fullgrad", layer="conv")(images())


def test_a_model_without_biases_has_the_input_term_alone():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(3, use_bias=False)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    x = images()
    heatmap = camlens.Explainer(model, method="fullgrad")(x, targets=[0]).heatmaps[0, 0]
    term = np.abs(input_gradient(model, x, 0)[0] * x[0]).astype(np.float64)
    term = ((term - term.min()) / (term.max() - term.min() + 1e-7)).sum(axis=-1)
    expected = (term - term.min()) / (term.max() - term.min())
    np.testing.assert_allclose(heatmap, expected, atol=1e-4)


def test_agreement_with_pytorch_grad_cam():
    """The same gradients as pytorch-grad-cam's hooks (its post-processing applied to
    camlens's gradients gives its map); camlens's map differs by the rescaling: the
    authors' per layer, pytorch-grad-cam's per channel."""
    if keras.backend.backend() != "torch":
        pytest.skip("pytorch-grad-cam runs on torch")
    import torch

    full_grad = theirs("fullgrad_cam", "FullGrad")
    model = relu_cnn()
    x = np.random.default_rng(3).normal(size=(2, 16, 16, 3)).astype(np.float32)
    their_maps = full_grad(torch_port(model), [])(
        torch.tensor(x.transpose(0, 3, 1, 2).copy()), [lambda o: o[2]] * len(x)
    )
    ours = camlens.Explainer(model, method="fullgrad")(x, targets=[2]).heatmaps[:, 0]
    on_input, sites = fullgrad_inputs(model, x, [2])
    for n in range(len(x)):
        per_channel = per_channel_map(x[n], on_input[n, 0], [(b, g[n, 0]) for b, g in sites])
        assert np.corrcoef(per_channel.ravel(), their_maps[n].ravel())[0, 1] > 0.9999
        np.testing.assert_allclose(per_channel, their_maps[n], atol=1e-4)
        r = np.corrcoef(ours[n].ravel(), their_maps[n].ravel())[0, 1]
        assert r > 0.85, r  # 0.894 and 0.907: the rescaling differs on purpose


def per_channel_map(image, input_gradient, sites):
    """pytorch-grad-cam's post-processing: every channel min-max scaled on its own."""

    def each_channel(terms):
        terms = np.abs(terms).astype(np.float64)
        low = terms.min(axis=(0, 1), keepdims=True)
        terms = terms - low
        return terms / (terms.max(axis=(0, 1), keepdims=True) + 1e-7)

    total = each_channel(input_gradient * image).sum(axis=-1)
    for bias, gradient in sites:
        total = total + bilinear(
            each_channel(gradient * bias).transpose(2, 0, 1), image.shape[:2]
        ).sum(0)
    total = total - total.min()
    return total / (total.max() + 1e-7)


@pytest.mark.parametrize("shape", [(24, 2), (4, 8, 8, 1)], ids=["1-D", "3-D"])
def test_signals_and_volumes_decompose_and_map_at_the_input_size(shape):
    rank = len(shape) - 1
    conv, pool, average = (
        getattr(keras.layers, f"{name}{rank}D")
        for name in ("Conv", "MaxPooling", "GlobalAveragePooling")
    )
    model = keras.Sequential(
        [
            keras.Input(shape),
            conv(4, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(),
            pool(2),
            conv(3, 3, padding="same", activation="relu"),
            average(),
            keras.layers.Dense(3),
        ]
    )
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()])
    variance = model.layers[1].moving_variance
    variance.assign(np.abs(keras.ops.convert_to_numpy(variance)) + 0.5)
    x = rng.uniform(-1, 1, (2, *shape)).astype(np.float32)
    on_input, sites = fullgrad_inputs(model, x, [1])
    assert len(sites) == 3
    logits = keras.ops.convert_to_numpy(model(x))
    dense_bias = keras.ops.convert_to_numpy(model.layers[-1].bias)
    for n in range(len(x)):
        total = (on_input[n, 0] * x[n]).sum() + dense_bias[1]
        total += sum((bias * g[n, 0]).sum() for bias, g in sites)
        assert abs(total - logits[n, 1]) < 1e-4
    maps = camlens.Explainer(model, method="fullgrad")(x, targets=[1]).heatmaps
    assert maps.shape == (2, 1, *shape[:-1])
    assert np.isclose(maps.min(), 0) and maps.max() > 0.99


def test_the_last_convolutions_bias_with_score_logit():
    """The last convolution's site is the input of its activation, where
    `score="logit"` reads the score too: both see the same value."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Reshape((1, 1, 4))(keras.layers.GlobalAveragePooling2D()(x))
    outputs = keras.layers.Conv2D(3, 1, activation="tanh", name="head")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    on_input, sites = fullgrad_inputs(model, x, [camlens.targets.Region(1)], score="logit")
    head = model.get_layer("head")
    pooled = keras.ops.convert_to_numpy(keras.Model(model.inputs, model.layers[-2].output)(x))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (head.kernel, head.bias))
    logits = pooled[:, 0, 0] @ kernel[0, 0] + bias
    for n in range(len(x)):
        total = (on_input[n, 0] * x[n]).sum() + sum((b * g[n, 0]).sum() for b, g in sites)
        assert abs(total - logits[n, 1]) < 1e-4
    np.testing.assert_allclose(sites[-1][1][:, 0, 0, 0], np.eye(3)[[1, 1]], atol=1e-6)


def test_a_bias_that_runs_twice_is_refused():
    """A shared convolution adds its bias at two places: one site cannot hold both."""
    inputs = keras.Input((SIZE, SIZE, 3))
    shared = keras.layers.Conv2D(3, 3, padding="same", name="shared")
    x = keras.layers.ReLU(name="between")(shared(inputs))
    x = shared(x)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    explainer = camlens.Explainer(model, method="fullgrad", layer="between")
    with pytest.raises(ValueError, match="'shared' runs more than once"):
        explainer(images(), targets=[0])
