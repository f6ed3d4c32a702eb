"""The shipped demo model: its structure, accuracy, a numpy forward pass and CAM."""

from __future__ import annotations

import numpy as np
import pytest

from camlens.demo import CLASS_NAMES, IMAGE_SIZE, make_dataset

TEST_SEED = 12345  # far from the seeds scripts/train_demo_model.py trains on


@pytest.fixture(scope="module")
def data():
    return make_dataset(300, seed=TEST_SEED)


@pytest.fixture(scope="module")
def model(demo_model):
    return demo_model


@pytest.fixture(scope="module")
def probs(model, data) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(model.predict(data.images, batch_size=100, verbose=0))


def test_model_structure(model):
    assert tuple(model.input_shape) == (None, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert tuple(model.output_shape) == (None, len(CLASS_NAMES))
    assert tuple(model.get_layer("last_conv").output.shape) == (None, 16, 16, 64)
    assert model.layers[-1].name == "predictions"


def test_model_accuracy(data, probs):
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    accuracy = np.mean(np.argmax(probs, -1) == data.labels)
    assert accuracy >= 0.95, accuracy


def test_model_matches_numpy_reference(model, data, probs):
    # A plain numpy forward pass from the stored weights: the loaded model must
    # compute the same thing under every backend.
    expected = _numpy_forward(model, data.images[:16])
    np.testing.assert_allclose(probs[:16], expected, atol=1e-4)


def test_cam_points_at_object(model, data, probs):
    # For conv -> global average pooling -> dense, Grad-CAM equals CAM.
    import keras

    n = 100
    features = keras.Model(model.inputs, model.get_layer("last_conv").output)
    acts = keras.ops.convert_to_numpy(features.predict(data.images[:n], verbose=0))
    weights = keras.ops.convert_to_numpy(model.get_layer("predictions").kernel)
    pred = np.argmax(probs[:n], -1)
    cams = np.einsum("nhwc,cn->nhw", acts, weights[:, pred])
    scale = IMAGE_SIZE // cams.shape[1]
    hits = 0
    for cam, mask in zip(cams, data.masks[:n]):
        y, x = np.unravel_index(np.argmax(cam), cam.shape)
        # The map cell covers pixels [y*scale, (y+1)*scale); allow 2 more pixels.
        near = mask[
            max(y * scale - 2, 0) : (y + 1) * scale + 2, max(x * scale - 2, 0) : (x + 1) * scale + 2
        ]
        hits += bool(near.any())
    assert hits / n >= 0.9, hits / n


def _numpy_forward(model, images: np.ndarray) -> np.ndarray:
    """Runs the demo model's layers in numpy (float64)."""
    import keras

    x = images.astype(np.float64)
    for layer in model.layers:
        weights = [keras.ops.convert_to_numpy(w).astype(np.float64) for w in layer.weights]
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind == "Rescaling":
            x = x * layer.scale + layer.offset
        elif kind == "Conv2D":
            x = _conv2d_same(x, weights[0], layer.strides[0])
            if layer.use_bias:
                x = x + weights[1]
            if layer.activation.__name__ == "relu":
                x = np.maximum(x, 0.0)
        elif kind == "BatchNormalization":
            gamma, beta, mean, var = weights
            x = (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta
        elif kind == "ReLU":
            x = np.maximum(x, 0.0)
        elif kind == "MaxPooling2D":
            n, h, w, c = x.shape
            x = x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
        elif kind == "GlobalAveragePooling2D":
            x = x.mean(axis=(1, 2))
        elif kind == "Dense":
            logits = x @ weights[0] + weights[1]
            e = np.exp(logits - logits.max(-1, keepdims=True))
            x = e / e.sum(-1, keepdims=True)
        else:
            raise AssertionError(f"no numpy version of layer {layer.name} ({kind})")
    return x


def _conv2d_same(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """'same' 2-D convolution, NHWC, with TensorFlow's padding (extra pad at the end)."""
    n, h, w, _ = x.shape
    kh, kw = kernel.shape[:2]
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + kh - h, 0)
    pad_w = max((out_w - 1) * stride + kw - w, 0)
    x = np.pad(
        x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    )
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride]
            out = out + patch @ kernel[i, j]
    return out
