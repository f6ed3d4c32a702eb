"""camlens against pytorch-grad-cam's own classes, run on a torch port of the same
network (`support.grad_cam_port`: conv with fused ReLU, conv, BatchNorm, ReLU, max pool,
conv with fused ReLU, global average, Dense logits), for the methods whose
formulas need the model itself (masked or ablated passes, second-order terms,
guided backpropagation, compared classes) and so are not in
`benchmarks/agreement.py`, which runs pytorch-grad-cam's formulas on camlens's
arrays. Explained at `conv_c` (pytorch-grad-cam: the ReLU after it); maps
compared by Pearson r, which does not see the two libraries' normalisations
(camlens divides by the maximum, pytorch-grad-cam subtracts the minimum first)."""

import warnings

import keras
import numpy as np
import pytest

import camlens
from support.grad_cam_port import relu_cnn, theirs, torch_port
from support.multilayer import bilinear

SIZE = 16

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="pytorch-grad-cam runs on torch"
)


@pytest.fixture
def pair():
    """A port per test: pytorch-grad-cam swaps modules in it (its ReLUs for guided
    backpropagation, the layer for ablation) and puts new ones back."""
    model = relu_cnn()
    return model, torch_port(model)


def _images(seed, count=4):
    return np.random.default_rng(seed).normal(size=(count, SIZE, SIZE, 3)).astype(np.float32)


def _nchw(x):
    import torch

    return torch.tensor(x.transpose(0, 3, 1, 2).copy())


def _correlations(ours, theirs_maps):
    """Per image, r between camlens's map (at the layer's grid, resized as
    pytorch-grad-cam resizes) and pytorch-grad-cam's (at the input's size)."""
    resized = bilinear(ours, (SIZE, SIZE)) if ours.shape[-1] != SIZE else ours
    return [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(resized, theirs_maps)]


def _ours(model, method, x, targets):
    return camlens.Explainer(model, method=method, layer="conv_c")(x, targets=targets).heatmaps


def test_shapley_cam(pair):
    model, port = pair
    x = _images(6)
    theirs_maps = theirs("shapley_cam", "ShapleyCAM")(port, [port[7]])(
        _nchw(x), [lambda o: o[1]] * len(x)
    )
    r = _correlations(_ours(model, "shapleycam", x, [1])[:, 0], theirs_maps)
    assert min(r) > 0.9999, r


def test_finer_cam(pair):
    """pytorch-grad-cam's FinerCAM over Grad-CAM, its comparison classes the most
    similar by logit (here every other of the four classes, as camlens's three)."""
    model, port = pair
    x = _images(6)
    finer = theirs("finer_cam", "FinerCAM")(
        port, [port[7]], base_method=theirs("grad_cam", "GradCAM")
    )
    theirs_maps = finer(_nchw(x), None, target_idx=1)
    r = _correlations(_ours(model, "finercam", x, [1])[:, 0], theirs_maps)
    assert min(r) > 0.995, r  # 0.9976 to 1.0000


def test_guided_gradcam(pair):
    """pytorch-grad-cam gives Grad-CAM and the guided-backpropagation gradients;
    Guided Grad-CAM is their product (the largest magnitude over the colour
    channels, as camlens draws one value per pixel)."""
    model, port = pair
    x = _images(6)
    gradcam = theirs("grad_cam", "GradCAM")(port, [port[7]])(_nchw(x), [lambda o: o[1]] * len(x))
    guided = theirs("guided_backprop", "GuidedBackpropReLUModel")(port, device="cpu")
    ours = _ours(model, "guided-gradcam", x, [1])[:, 0]
    for n in range(len(x)):
        gradients = np.abs(guided(_nchw(x[n : n + 1]), target_category=1)).max(axis=-1)
        product = gradcam[n] * gradients
        assert np.corrcoef(ours[n].ravel(), product.ravel())[0, 1] > 0.9999


def test_ablation_cam(pair):
    """Equal where the explained score is positive: for a negative one
    pytorch-grad-cam divides the drops by it and so flips the map, camlens
    divides by its magnitude (the module's docstring)."""
    model, port = pair
    x = _images(7, count=8)
    logits = keras.ops.convert_to_numpy(model(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", camlens.BlankMapWarning)  # a class without evidence
        ours = _ours(model, "ablationcam", x, [2, 3])
    ablation = theirs("ablation_cam", "AblationCAM")
    compared = 0
    for k, class_id in enumerate((2, 3)):
        # a new instance per call: one keeps the ablation layer's state between calls
        theirs_maps = ablation(port, [port[7]])(_nchw(x), [lambda o, c=class_id: o[c]] * len(x))
        r = _correlations(ours[:, k], theirs_maps)
        for n in range(len(x)):
            if logits[n, class_id] > 0 and ours[n, k].max() > 0:
                assert r[n] > 0.9999, (class_id, n, r[n])
                compared += 1
    assert compared >= 8  # 16 pairs, most with a positive logit and evidence
