"""Bad input: a TypeError or ValueError naming the argument, before any backend work."""

import keras
import numpy as np
import pytest

import camlens
from support.models import CLASSES, SIZE, images


@pytest.mark.parametrize(
    "doc, error, words",
    [
        ([[1.0]], TypeError, "doc must be a numpy.ndarray"),
        ("picture.png", TypeError, "doc must be a numpy.ndarray"),
        (np.zeros((SIZE, SIZE), np.float32), ValueError, "4-D"),
        (np.zeros((SIZE + 1, SIZE, 3), np.float32), ValueError, "4-D"),
        (np.zeros((2, SIZE, SIZE, 3), np.float32), ValueError, "exactly one image"),
        (np.zeros((1, SIZE + 1, SIZE, 3), np.float32), ValueError, "does not fit"),
        (np.zeros((1, SIZE, SIZE, 1), np.float32), ValueError, "does not fit"),
        (np.full((1, SIZE, SIZE, 3), np.nan, np.float32), ValueError, "NaN"),
        (np.zeros((1, SIZE, SIZE, 3), bool), TypeError, "dtype"),
        (np.zeros((1, SIZE, SIZE, 3), object), TypeError, "dtype"),
    ],
)
def test_bad_doc(resnet, doc, error, words):
    with pytest.raises(error, match=words) as raised:
        camlens.explain_prediction(resnet, doc)
    assert "doc" in str(raised.value)


def test_doc_without_batch_axis_is_accepted(resnet):
    with_axis = camlens.explain_prediction(resnet, images())
    without = camlens.explain_prediction(resnet, images()[0])
    np.testing.assert_array_equal(without.targets[0].heatmap, with_axis.targets[0].heatmap)


def test_integer_doc_is_accepted(resnet):
    doc = (images() * 255).astype(np.uint8)
    assert camlens.explain_prediction(resnet, doc).targets[0].heatmap.shape == (SIZE, SIZE)


@pytest.mark.parametrize(
    "targets, error, words",
    [
        ([CLASSES], ValueError, "out of range"),
        ([-1], ValueError, "out of range"),
        ([0, 99], ValueError, "out of range"),
        (["cat"], TypeError, "class id"),
        ([1.5], TypeError, "class id"),
        ([True], TypeError, "class id"),
        ("cat", TypeError, "targets must be"),
        ((1, 2), TypeError, "targets must be"),
        ([], ValueError, "empty"),
    ],
)
def test_bad_targets(resnet, targets, error, words):
    with pytest.raises(error, match=words) as raised:
        camlens.explain_prediction(resnet, images(), targets=targets)
    assert "targets" in str(raised.value)


def test_not_a_model():
    with pytest.raises(TypeError, match="model must be a Keras 3 model"):
        camlens.explain_prediction(object(), images())


def test_unbuilt_model():
    model = keras.Sequential([keras.layers.Conv2D(2, 3), keras.layers.GlobalAveragePooling2D()])
    with pytest.raises(ValueError, match="not built"):
        camlens.explain_prediction(model, images())


def test_bad_image(resnet):
    with pytest.raises(TypeError, match="image must be a PIL"):
        camlens.explain_prediction(resnet, images(), image=np.zeros((SIZE, SIZE, 3)))


def test_unknown_method(resnet):
    with pytest.raises(ValueError, match="method must be one of"):
        camlens.explain_prediction(resnet, images(), method="magic")
    with pytest.raises(TypeError, match="method must be a string"):
        camlens.explain_prediction(resnet, images(), method=3)


def test_errors_leave_no_capture_behind(resnet):
    for bad in ([CLASSES], ["x"]):
        with pytest.raises((TypeError, ValueError)):
            camlens.explain_prediction(resnet, images(), targets=bad)
    assert all("call" not in vars(layer) for layer in resnet.layers)
    assert camlens.explain_prediction(resnet, images()).targets[0].heatmap.max() > 0


def test_model_with_several_outputs_needs_a_callable_target():
    inputs = keras.Input((SIZE, SIZE, 3))
    features = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    model = keras.Model(inputs, [keras.layers.Dense(2)(pooled), keras.layers.Dense(4)(pooled)])

    with pytest.raises(ValueError, match="callable"):
        camlens.explain_prediction(model, images(), targets=[1])
    expl = camlens.explain_prediction(model, images(), targets=lambda out: out[1][:, 3])
    assert expl.targets[0].heatmap.shape == (SIZE - 2, SIZE - 2)


def test_positive_integers_are_checked_alike_everywhere(resnet):
    from camlens.formatters import signal_with_heatmap, slice_montage
    from camlens.metrics import deletion
    from camlens.models.labels import decode_predictions

    heatmaps, targets = np.ones((1, 1, 4, 4)) / 2, np.array([0])
    calls = {
        "batch_size": lambda v: camlens.explain_batch(resnet, images(2), batch_size=v),
        "mask_batch_size": lambda v: camlens.Explainer(resnet, mask_batch_size=v),
        "steps": lambda v: deletion(resnet, images(), heatmaps[:, 0], targets, steps=v),
        "top": lambda v: decode_predictions(np.ones((1, 1000)), top=v),
        "max_slices": lambda v: slice_montage(np.ones((4, 4, 4, 1)), max_slices=v),
        "band_height": lambda v: signal_with_heatmap(np.ones((8, 1)), band_height=v),
    }
    for name, call in calls.items():
        call(np.int64(2))  # numpy integers are integers
        for bad in (0, -3, 2.0, True, "2", None):
            with pytest.raises(ValueError, match=f"{name} must be a positive integer. Received: "):
                call(bad)
