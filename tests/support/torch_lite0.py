"""An independent EfficientNet-Lite0 forward pass, written with torch operations only.

It reads the weights package's state dict with `torch.load` (not camlens's
reader) and follows the original TF model: inputs `(x - 127) / 128`, TF "same"
padding (the extra row and column of a strided convolution at the bottom and
right), batch norm in inference mode with epsilon 1e-3, ReLU6, no
squeeze-and-excitation, residual connections where stride is 1 and the channel
count is kept. Nothing here is shared with `camlens.models`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

EPS = 1e-3
# The stride of the depthwise convolution of each of the 16 blocks, in order.
BLOCK_STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]


def load(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def lite0_logits(state: dict[str, torch.Tensor], images: np.ndarray) -> np.ndarray:
    """Logits (N, 1000) for images (N, 224, 224, 3) with values 0..255."""
    x = torch.as_tensor(np.asarray(images, np.float32)).permute(0, 3, 1, 2)
    with torch.no_grad():
        x = (x - 127.0) / 128.0
        x = _relu6(_bn(state, "_bn0", _conv(x, state["_conv_stem.weight"], 2)))
        for i, stride in enumerate(BLOCK_STRIDES):
            x = _block(state, f"_blocks.{i}.", x, stride)
        x = _relu6(_bn(state, "_bn1", _conv(x, state["_conv_head.weight"], 1)))
        x = x.mean(dim=(2, 3))
        x = x @ state["_fc.weight"].T + state["_fc.bias"]
    return x.numpy()


def _block(state, prefix, inputs, stride):
    x = inputs
    if prefix + "_expand_conv.weight" in state:
        x = _relu6(_bn(state, prefix + "_bn0", _conv(x, state[prefix + "_expand_conv.weight"], 1)))
    depthwise = state[prefix + "_depthwise_conv.weight"]
    x = _relu6(_bn(state, prefix + "_bn1", _conv(x, depthwise, stride, groups=depthwise.shape[0])))
    x = _bn(state, prefix + "_bn2", _conv(x, state[prefix + "_project_conv.weight"], 1))
    if stride == 1 and x.shape == inputs.shape:
        x = x + inputs
    return x


def _conv(x, weight, stride, groups=1):
    """A bias-free convolution with TensorFlow's "same" padding."""
    padding = []
    for size, k in ((x.shape[3], weight.shape[3]), (x.shape[2], weight.shape[2])):
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + k - size, 0)
        padding += [total // 2, total - total // 2]  # the odd pixel goes after
    return F.conv2d(F.pad(x, padding), weight, stride=stride, groups=groups)


def _bn(state, prefix, x):
    return F.batch_norm(
        x,
        state[prefix + ".running_mean"],
        state[prefix + ".running_var"],
        state[prefix + ".weight"],
        state[prefix + ".bias"],
        training=False,
        eps=EPS,
    )


def _relu6(x):
    return torch.clamp(x, 0.0, 6.0)
