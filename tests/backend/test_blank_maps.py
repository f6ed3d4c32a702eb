"""No blank map without a word: every method and option gives a map or says why.

The MobileNetV2 case (`support.mobilenet`: numpy weights, BatchNorm calibrated,
the astronaut photo at 96x96) is the one where `smooth="eigen"` used to give a
blank map without a warning: at `block_13_expand_relu` the negative evidence of
Grad-CAM's terms outweighs the positive, so their first principal component,
signed like their sum, was negative everywhere.
"""

import warnings

import keras
import numpy as np
import pytest

import camlens
from camlens.methods import BUILT_IN, METHODS
from support import hub
from support.mobilenet import astronaut, mobilenet_v2

LAYER = "block_13_expand_relu"


@pytest.fixture(scope="module")
def mobilenet():
    return mobilenet_v2()


def recorded(call):
    """`(result, warnings)`: the camlens blank-map warnings `call()` gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [w for w in caught if issubclass(w.category, camlens.BlankMapWarning)]


def blank(heatmaps) -> np.ndarray:
    """(N, K) whether each map is blank: nothing of it reaches half the scale (a map
    normalised by its maximum plus 1e-7 does when its maximum is at least 1e-7)."""
    return np.abs(heatmaps).max(axis=tuple(range(2, heatmaps.ndim))) < 0.5


def first_component(part):
    """Non-negative (h, w, C) terms projected on their first right singular vector
    (numpy's SVD), scaled to their total."""
    matrix = part.reshape(-1, part.shape[-1])
    if not matrix.any():
        return np.zeros(part.shape[:-1])
    _, _, vt = np.linalg.svd(matrix, full_matrices=False)
    projection = matrix @ vt[0]
    return (projection * matrix.sum() / projection.sum()).reshape(part.shape[:-1])


def test_eigen_smoothing_keeps_the_positive_evidence_of_the_plain_map(mobilenet):
    x = astronaut()
    explainer = camlens.Explainer(mobilenet, layer=LAYER, smooth="eigen")
    inputs, _, _ = explainer.method_inputs(explainer.prepare(x), None)
    a, g = inputs.activations[0].astype(np.float64), inputs.gradients[0, 0]
    terms = a * g.mean(axis=(0, 1))  # Grad-CAM's w_k A^k
    matrix = terms.reshape(-1, terms.shape[-1])
    one = matrix @ np.linalg.svd(matrix, full_matrices=False)[2][0]
    one = one if one @ matrix.sum(axis=1) >= 0 else -one
    assert one.max() <= 0  # the case: one component, signed like the sum, is all negative
    raw = first_component(np.maximum(terms, 0)) - first_component(np.maximum(-terms, 0))

    smoothed, said = recorded(lambda: explainer(x))
    plain = camlens.Explainer(mobilenet, layer=LAYER)(x)

    assert said == []
    expected = np.maximum(raw, 0) / (raw.max() + 1e-7)
    np.testing.assert_allclose(smoothed.heatmaps[0, 0], expected, atol=1e-5)
    assert smoothed.heatmaps.max() > 0.99 and plain.heatmaps.max() > 0.99
    r = np.corrcoef(smoothed.heatmaps.ravel(), plain.heatmaps.ravel())[0, 1]
    assert r > 0.7  # one component signed by its positive mass: r = 0.09


def _every_method_and_option(model, x, layer, targets):
    """`[(name, smooth, heatmaps, warnings)]` for every built-in method of classes, plain and
    eigen-smoothed where it applies, and Grad-CAM with `smooth="aug"`."""
    names = [
        name
        for name in sorted(BUILT_IN)
        if not METHODS[name].detections_only
        and (name != "guided-gradcam" or layer)  # a ViT (layer None) has no ReLUs
        and (not METHODS[name].attention_only or not layer)  # nor MobileNetV2 attention
    ]
    runs = []
    for smooth in (None, "eigen"):
        chosen = [n for n in names if smooth is None or METHODS[n].sums_channels]
        maps, said = recorded(
            lambda chosen=chosen, smooth=smooth: camlens.explain_methods(
                model,
                x,
                methods=chosen,
                targets=targets,
                layer=layer,
                max_channels=4,
                smooth=smooth,
            )
        )
        runs += [(name, smooth, maps[name].heatmaps, said) for name in chosen]
    maps, said = recorded(
        lambda: camlens.Explainer(model, layer=layer, smooth="aug")(x, targets=targets)
    )
    return runs + [("gradcam", "aug", maps.heatmaps, said)]


@pytest.mark.parametrize("case", ["mobilenet", "vit"])
def test_every_method_and_smoothing_gives_a_map_or_says_why(case, request):
    if case == "mobilenet":
        model, x, layer = request.getfixturevalue("mobilenet"), astronaut(), LAYER
    else:  # the automatic layer; guided backpropagation needs ReLUs, which a ViT has not
        model, x, layer = request.getfixturevalue("vit"), hub.images(), None
    for name, smooth, heatmaps, said in _every_method_and_option(model, x, layer, [0, 1]):
        messages = [str(w.message) for w in said]
        if blank(heatmaps).any():
            assert any(f"The {name} maps" in m or "all zero" in m for m in messages), (name, smooth)
        else:  # and no word where there is a map
            assert not any(f"The {name} maps" in m for m in messages), (name, smooth, messages)


def small_cnn(kernel, bias, head):
    """Conv2D(4, 3, relu) 'conv' -> average pooling -> Dense(3) 'head', no activation."""
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, name="head"),
        ]
    )
    rng = np.random.default_rng(0)
    model.set_weights(
        [
            (kernel * rng.uniform(0.5, 1, (3, 3, 3, 4))).astype(np.float32),
            np.full(4, bias, np.float32),
            (head * rng.uniform(0.5, 1, (4, 3))).astype(np.float32),
            np.zeros(3, np.float32),
        ]
    )
    return model


def doc():
    return np.random.default_rng(1).uniform(0.5, 1, (1, 8, 8, 3)).astype(np.float32)


def test_a_dead_layer_is_said():
    model = small_cnn(kernel=0.1, bias=-100.0, head=1.0)
    maps, said = recorded(lambda: camlens.Explainer(model, layer="conv")(doc(), targets=[0]))
    assert blank(maps.heatmaps).all()
    assert len(said) == 1 and "activations of layer 'conv' are all zero" in str(said[0].message)


def test_evidence_that_is_all_negative_is_said_and_shown_by_relu_false():
    model = small_cnn(kernel=0.1, bias=0.1, head=-1.0)  # every channel lowers every class
    maps, said = recorded(lambda: camlens.Explainer(model, layer="conv")(doc(), targets=[0]))
    assert blank(maps.heatmaps).all()
    assert len(said) == 1 and said[0].category is camlens.BlankMapWarning
    assert "all their evidence is negative" in str(said[0].message)
    assert "relu=False" in str(said[0].message)
    assert said[0].filename == __file__  # the warning points at the caller's line

    signed, said = recorded(
        lambda: camlens.Explainer(model, layer="conv", relu=False)(doc(), targets=[0])
    )
    assert said == [] and signed.heatmaps.min() < -0.99


def test_a_faint_map_is_said_with_its_largest_value():
    model = small_cnn(kernel=1e-6, bias=1e-6, head=1e-3)
    maps, said = recorded(lambda: camlens.Explainer(model, layer="conv")(doc(), targets=[0]))
    assert blank(maps.heatmaps).all() and maps.heatmaps.max() > 0
    assert len(said) == 1 and "below the normalisation's floor" in str(said[0].message)


def test_zero_gradients_are_a_blank_map_warning_of_their_own(vit):
    assert issubclass(camlens.ZeroGradientWarning, camlens.BlankMapWarning)
    maps, said = recorded(
        lambda: camlens.Explainer(vit, layer="transformer_block_2")(hub.images(), targets=[0])
    )
    assert blank(maps.heatmaps).all()
    assert [w.category for w in said] == [camlens.ZeroGradientWarning]
