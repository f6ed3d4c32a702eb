"""`import camlens.eli5`: ELI5's own entry points on every backend, against the numpy reference."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

eli5 = pytest.importorskip("eli5")

import camlens  # noqa: E402
import camlens.eli5  # noqa: E402,F401  (registers camlens inside ELI5)
from support.models import SIZE, images, nested_functional, residual_weights  # noqa: E402
from support.reference import residual_forward, residual_gradcam  # noqa: E402


def merged_cam(doc: np.ndarray, target: int | None = None) -> np.ndarray:
    """Grad-CAM at the last layer (merged_relu): its gradient is the same at every location."""
    f = residual_forward(residual_weights(), doc[0])
    probs = f["probs"]
    target = int(np.argmax(probs)) if target is None else target
    onehot = np.eye(len(probs))[target]
    height, width = f["merged"].shape[:2]
    weights = f["dense_kernel"] @ (probs[target] * (onehot - probs)) / (height * width)
    cam = np.maximum(np.einsum("hwc,c->hw", f["merged"], weights), 0)
    return cam / (cam.max() + 1e-7)  # ELI5's normalisation


def test_returns_eli5s_own_objects_filled_as_eli5_fills_them(resnet):
    doc = images()
    expl = eli5.explain_prediction(resnet, doc)

    assert type(expl) is eli5.base.Explanation
    assert expl.estimator == "flat" and expl.error == "" and expl.method == "Grad-CAM"
    assert "Grad-CAM" in expl.description
    assert expl.is_regression is False and expl.highlight_spaces is None
    assert isinstance(expl.image, Image.Image) and expl.image.size == (SIZE, SIZE)
    (target,) = expl.targets
    assert type(target) is eli5.base.TargetExplanation
    probs = residual_forward(residual_weights(), doc[0])["probs"]
    assert target.target == int(np.argmax(probs))
    assert target.score == pytest.approx(probs.max(), rel=1e-5)
    assert target.proba is None
    np.testing.assert_allclose(target.heatmap, merged_cam(doc), atol=1e-5)


def test_every_model_kind_nested_included(any_model):
    doc = images(seed=2)
    expected, _, _, _ = residual_gradcam(residual_weights(), doc[0], None)
    heatmap = eli5.explain_prediction(any_model, doc, layer="conv1").targets[0].heatmap
    np.testing.assert_allclose(heatmap, expected, atol=1e-5)


def test_layer_by_name_index_and_instance(resnet):
    doc = images(seed=3)
    expected, _, _, _ = residual_gradcam(residual_weights(), doc[0], None)
    conv1 = resnet.get_layer("conv1")
    for layer in ("conv1", resnet.layers.index(conv1), conv1):
        heatmap = eli5.explain_prediction(resnet, doc, layer=layer).targets[0].heatmap
        np.testing.assert_allclose(heatmap, expected, atol=1e-5)


def test_automatic_layer_descends_into_a_nested_base():
    doc = images(seed=4)
    heatmap = eli5.explain_prediction(nested_functional(), doc).targets[0].heatmap
    np.testing.assert_allclose(heatmap, merged_cam(doc), atol=1e-5)


def test_targets_one_and_several_in_order(resnet):
    doc = images(seed=5)
    (one,) = eli5.explain_prediction(resnet, doc, targets=[3], layer="conv1").targets
    assert one.target == 3
    np.testing.assert_allclose(
        one.heatmap, residual_gradcam(residual_weights(), doc[0], 3)[0], atol=1e-5
    )

    several = eli5.explain_prediction(resnet, doc, targets=[4, 0], layer="conv1").targets
    assert [t.target for t in several] == [4, 0]
    for t in several:
        np.testing.assert_allclose(
            t.heatmap, residual_gradcam(residual_weights(), doc[0], t.target)[0], atol=1e-5
        )


def test_camlens_options_pass_through(resnet):
    expl = eli5.explain_prediction(resnet, images(), method="layercam", layer="conv1")
    assert expl.method == camlens.explain_prediction(resnet, images(), method="layercam").method
    assert expl.method != "Grad-CAM"


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(doc=[[1.0]]), TypeError, "doc must be a numpy.ndarray"),
        (dict(doc=np.zeros((2, SIZE, SIZE, 3), np.float32)), ValueError, "exactly one image"),
        (dict(doc=np.zeros((1, SIZE + 1, SIZE, 3), np.float32)), ValueError, "does not fit"),
        (dict(targets=[99]), ValueError, "out of range"),
        (dict(targets="cat"), TypeError, "targets must be"),
        (dict(layer="conv_1"), ValueError, "No layer named 'conv_1'"),
        (dict(layer=99), ValueError, "out of range"),
        (dict(layer=1.5), TypeError, "layer must be"),
        (dict(layer="predictions"), ValueError, "4-D"),
    ],
)
def test_errors_name_the_argument(resnet, kwargs, error, words):
    doc = kwargs.pop("doc", images())
    with pytest.raises(error, match=words):
        eli5.explain_prediction(resnet, doc, **kwargs)


def test_show_prediction_draws_eli5s_overlay(resnet):
    doc = images(seed=6)
    picture = Image.new("RGB", (48, 36), "gray")

    shown = eli5.show_prediction(resnet, doc, image=picture, layer="conv1", alpha_limit=0.4)
    expl = eli5.explain_prediction(resnet, doc, image=picture, layer="conv1")
    formatted = eli5.format_as_image(expl, alpha_limit=0.4)

    assert isinstance(shown, Image.Image) and shown.size == (48, 36)
    np.testing.assert_array_equal(np.asarray(shown), np.asarray(formatted))
    # and the alpha limit reached the formatter
    opaque = eli5.show_prediction(resnet, doc, image=picture, layer="conv1", alpha_limit=1.0)
    assert not np.array_equal(np.asarray(opaque), np.asarray(shown))


def test_model_left_unchanged(resnet):
    before = [w.copy() for w in resnet.get_weights()]
    eli5.explain_prediction(resnet, images(), layer="conv1")
    with pytest.raises(ValueError):
        eli5.explain_prediction(resnet, images(), layer="predictions")
    for old, new in zip(before, resnet.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert all("call" not in vars(layer) for layer in resnet._flatten_layers())


def test_tensorflow_stays_out_on_the_other_backends():
    """ELI5's TensorFlow-only Keras module is not loaded on JAX and torch."""
    backend = keras.backend.backend()
    code = (
        "import sys, camlens.eli5, eli5;"
        "print('tensorflow' in sys.modules, eli5.explain_prediction.dispatch("
        "__import__('keras').Model).__module__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "KERAS_BACKEND": backend},
    )
    assert result.returncode == 0, result.stderr
    loaded_tf, module = result.stdout.split()
    assert module == "camlens.eli5"
    assert loaded_tf == str(backend == "tensorflow")


def _dense_only():
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)], name="dense_only")


def _flat_head():
    return keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(), keras.layers.Dense(3)],
        name="flat_head",
    )


@pytest.mark.parametrize(
    "build, doc, why",
    [
        (_dense_only, np.zeros((5, 5), np.float32), "its input has 2 axes"),
        (lambda: keras.Sequential([keras.layers.Dense(3)]), np.zeros((5, 5)), "not a batch"),
        (_flat_head, images(), "no layer with a spatial output"),
        ("resnet", np.zeros((5, 5), np.float32), "doc of shape (5, 5) is not a batch"),
    ],
)
def test_what_eli5_does_not_support_is_an_explanation_with_an_error(build, doc, why, request):
    """ELI5 0.16 returns `Explanation(model.name, error=...)` for a model or doc it
    does not support (no image layer, not an image batch), and raises otherwise."""
    model = request.getfixturevalue(build) if build == "resnet" else build()
    expl = eli5.explain_prediction(model, doc)
    assert type(expl) is eli5.base.Explanation
    assert expl.estimator == model.name and expl.targets is None and expl.image is None
    assert expl.error.startswith(f'model "{model.name}" is not supported') and why in expl.error
    with pytest.raises((ValueError, TypeError)):  # camlens's own call keeps raising
        camlens.explain_prediction(model, doc)


def test_with_an_image_given_eli5_explains_or_raises():
    """ELI5 takes `image=` as saying the model is an image model: it raises then."""
    with pytest.raises(ValueError, match="spatial output"):
        eli5.explain_prediction(_flat_head(), images(), image=Image.new("RGB", (SIZE, SIZE)))
