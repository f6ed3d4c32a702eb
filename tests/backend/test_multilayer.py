"""layers=[...]: the maps of several layers upsampled to the finest grid and combined."""

import keras
import numpy as np
import pytest

import camlens
from camlens.metrics import randomization_check
from support.models import images
from support.multilayer import bilinear, two_scale_model

COMBINED = {
    "mean": lambda stacked: stacked.mean(axis=0),
    "max": lambda stacked: stacked.max(axis=0),
    "product": lambda stacked: stacked[0] * stacked[1],  # RefineCAM
}


@pytest.mark.parametrize("combine", sorted(COMBINED))
def test_maps_of_two_layers_are_upsampled_to_the_finer_and_combined(combine):
    model = two_scale_model()
    batch = images(3, seed=4)
    fine = camlens.Explainer(model, layer="fine", method="layercam")(batch, targets=[1, 2])
    coarse = camlens.Explainer(model, layer="coarse", method="layercam")(batch, targets=[1, 2])
    assert fine.heatmaps.shape[2:] == (12, 12) and coarse.heatmaps.shape[2:] == (6, 6)

    stacked = np.stack([fine.heatmaps, bilinear(coarse.heatmaps, (12, 12))])
    raw = COMBINED[combine](stacked)
    expected = raw / (raw.max(axis=(-2, -1), keepdims=True) + 1e-7)

    maps = camlens.Explainer(model, layers=["coarse", "fine"], method="layercam", combine=combine)(
        batch, targets=[1, 2]
    )
    assert maps.heatmaps.shape == (3, 2, 12, 12)
    np.testing.assert_allclose(maps.heatmaps, expected, atol=1e-6)
    np.testing.assert_array_equal(maps.targets, fine.targets)


def test_explain_prediction_names_every_layer():
    model = two_scale_model()
    expl = camlens.explain_prediction(model, images(1, seed=2), layers=["fine", "coarse"])
    assert expl.layer == "fine, coarse"
    assert expl.targets[0].heatmap.shape == (12, 12)


def test_randomization_check_over_several_layers():
    check = randomization_check(two_scale_model(), images(3, seed=6), layers=["fine", "coarse"])
    assert "coarse" in check.randomized and "fine" not in check.randomized
    assert check.correlations.shape == (3,)


@pytest.mark.parametrize(
    "options, error, words",
    [
        ({"layers": "fine"}, TypeError, "layers must be a list"),
        ({"layers": []}, ValueError, "at least one layer"),
        ({"layers": ["fine"], "layer": "coarse"}, ValueError, "not both"),
        ({"layers": ["fine", "nowhere"]}, ValueError, "nowhere"),
        ({"layers": ["fine"], "combine": "sum"}, ValueError, "combine must be one of"),
        ({"layers": ["fine"], "combine": "product", "relu": False}, ValueError, "relu=True"),
    ],
)
def test_bad_layers(options, error, words):
    with pytest.raises(error, match=words):
        camlens.Explainer(two_scale_model(), **options)


def test_explain_methods_over_several_layers():
    model = two_scale_model()
    batch = images(2, seed=9)
    together = camlens.explain_methods(
        model, batch, methods=["gradcam", "layercam"], layers=["fine", "coarse"]
    )
    for name, maps in together.items():
        alone = camlens.Explainer(model, method=name, layers=["fine", "coarse"])(batch)
        np.testing.assert_allclose(maps.heatmaps, alone.heatmaps, atol=1e-6)


def test_a_product_blank_where_no_layer_is_says_the_layers_do_not_overlap():
    from types import SimpleNamespace

    from camlens.api.blank_maps import warn_if_product_blank

    left, right = np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4, 4))
    left[..., :2], right[..., 2:] = 1.0, 1.0
    parts = [SimpleNamespace(layer=SimpleNamespace(name=name)) for name in ("early", "late")]
    maps = [SimpleNamespace(heatmaps=left), SimpleNamespace(heatmaps=right)]
    with pytest.warns(camlens.BlankMapWarning, match="'early', 'late' point at places"):
        warn_if_product_blank("product", maps, left * right, parts)


def test_refinecam_agrees_with_pytorch_grad_cam():
    """pytorch-grad-cam's RefineCAM (a base method at each layer, scaled to [0, 1] and
    resized to the input, multiplied, min-max scaled) on a torch port of the same
    network, where camlens multiplies on the finest grid (here the input's). Over
    Grad-CAM the maps are equal; over Grad-CAM++ (its default) they differ by
    pytorch-grad-cam's 1e-6 in the alphas' denominator, large beside these small
    logit gradients (see benchmarks/results/cpu-agreement.md)."""
    if keras.backend.backend() != "torch":
        pytest.skip("pytorch-grad-cam runs on torch")
    import torch

    from support.grad_cam_port import relu_cnn, theirs_refinecam, torch_port

    model = relu_cnn()  # conv_a (16x16, ReLU fused), ..., conv_c (8x8, ReLU fused), logits
    port = torch_port(model)
    refine, their_gradcam = theirs_refinecam()
    x = np.random.default_rng(6).normal(size=(4, 16, 16, 3)).astype(np.float32)
    batch = torch.tensor(x.transpose(0, 3, 1, 2).copy())
    layers = [port[1], port[7]]  # the ReLUs after conv_a and conv_c
    for method, options in (("gradcam", {"base_method": their_gradcam}), ("gradcam++", {})):
        theirs = refine(port, layers, **options)(batch, [lambda o: o[1]] * len(x))
        ours = camlens.Explainer(
            model, method=method, layers=["conv_a", "conv_c"], combine="product"
        )(x, targets=[1]).heatmaps[:, 0]
        for n in range(len(x)):
            r = np.corrcoef(ours[n].ravel(), theirs[n].ravel())[0, 1]
            if method == "gradcam":
                np.testing.assert_allclose(ours[n], theirs[n], atol=1e-5)
            else:
                assert r > 0.99, r  # 0.993 to 0.998 on these images
