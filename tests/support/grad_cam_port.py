"""A small network in Keras and the same network ported to torch, and
pytorch-grad-cam's own classes loaded without the packages camlens does not
install: what the agreement tests run pytorch-grad-cam on (FullGrad, RefineCAM,
and the methods that run the model beyond one pass)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types

import keras
import numpy as np
import pytest

from support.multilayer import bilinear

SIZE = 16


def relu_cnn() -> keras.Model:
    """Conv(relu, bias) -> Conv(no bias) -> BN -> ReLU -> max pool -> Conv(relu, bias)
    -> global average -> Dense logits (no activation: the output is the logit)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu_b")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_c")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    model = keras.Model(inputs, outputs, name="relu_cnn")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
    bn = model.get_layer("bn")
    bn.moving_variance.assign(np.abs(np.asarray(bn.moving_variance)) + 0.5)
    return model


def torch_port(model: keras.Model):
    """`relu_cnn` as a torch `nn.Sequential` with the same weights (NCHW)."""
    import torch
    from torch import nn

    def conv(name, bias=True):
        layer = model.get_layer(name)
        kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
        port = nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1, bias=bias)
        port.weight.data = torch.tensor(kernel.transpose(3, 2, 0, 1).copy())
        if bias:
            port.bias.data = torch.tensor(keras.ops.convert_to_numpy(layer.bias))
        return port

    keras_bn = model.get_layer("bn")
    bn = nn.BatchNorm2d(8, eps=keras_bn.epsilon)
    for ours, theirs in (
        (bn.weight, keras_bn.gamma),
        (bn.bias, keras_bn.beta),
        (bn.running_mean, keras_bn.moving_mean),
        (bn.running_var, keras_bn.moving_variance),
    ):
        ours.data = torch.tensor(keras.ops.convert_to_numpy(theirs))
    dense = model.get_layer("logits")
    head = nn.Linear(6, 4)
    head.weight.data = torch.tensor(keras.ops.convert_to_numpy(dense.kernel).T.copy())
    head.bias.data = torch.tensor(keras.ops.convert_to_numpy(dense.bias))
    port = nn.Sequential(
        conv("conv_a"),
        nn.ReLU(),
        conv("conv_b", bias=False),
        bn,
        nn.ReLU(),
        nn.MaxPool2d(2),
        conv("conv_c"),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        head,
    )
    return port.eval()


def theirs(module: str, name: str):
    """pytorch-grad-cam's class `name` of its module `module`, or the test skipped
    without the package."""
    with _their_package():
        return getattr(importlib.import_module(f"pytorch_grad_cam.{module}"), name)


def theirs_refinecam():
    """pytorch-grad-cam's `RefineCAM` class (a base method per layer, Grad-CAM++ by
    default, multiplied at the input's size) and its `GradCAM`, or the test skipped
    without them."""
    with _their_package():
        refine = importlib.import_module("pytorch_grad_cam.refine_cam").RefineCAM
        return refine, importlib.import_module("pytorch_grad_cam.grad_cam").GradCAM


@contextlib.contextmanager
def _their_package():
    """pytorch-grad-cam's package, entered as a bare namespace for an import.

    Its package imports torchvision, OpenCV, matplotlib and ttach for image
    utilities and test-time augmentation; the methods used here call only
    OpenCV's `resize` (bilinear, half-pixel centres: given here as `bilinear`).
    Stand-ins for the rest are in place for the duration of the import only."""
    spec = importlib.util.find_spec("pytorch_grad_cam")
    if spec is None or spec.submodule_search_locations is None:
        pytest.skip("pytorch-grad-cam is not installed (pip install --no-deps grad-cam)")
    package = types.ModuleType("pytorch_grad_cam")
    package.__path__ = list(spec.submodule_search_locations)
    cv2 = types.ModuleType("cv2")
    cv2.resize = lambda image, size: bilinear(np.asarray(image, np.float64), size[::-1])
    cv2.COLORMAP_JET = 2  # a default argument value of its display helper
    transforms = types.ModuleType("torchvision.transforms")
    transforms.Compose = transforms.Normalize = transforms.ToTensor = None
    torchvision = types.ModuleType("torchvision")
    torchvision.transforms = transforms
    ttach = types.ModuleType("ttach")
    ttach.Compose = ttach.HorizontalFlip = ttach.Multiply = lambda *args, **kwargs: None
    stand_ins = {
        "pytorch_grad_cam": package,
        "cv2": cv2,
        "torchvision": torchvision,
        "torchvision.transforms": transforms,
        "ttach": ttach,
    }
    with _modules(stand_ins):
        # what other modules import from the package's __init__, which is bare here
        for module, name in (("grad_cam", "GradCAM"), ("grad_cam_plusplus", "GradCAMPlusPlus")):
            found = importlib.import_module(f"pytorch_grad_cam.{module}")
            setattr(package, name, getattr(found, name))
        yield package


@contextlib.contextmanager
def _modules(stand_ins: dict):
    names = list(stand_ins) + [n for n in sys.modules if n.startswith("pytorch_grad_cam.")]
    saved = {name: sys.modules.get(name) for name in names}
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        for name in list(sys.modules):
            if name.startswith("pytorch_grad_cam") and name not in saved:
                sys.modules.pop(name)
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
