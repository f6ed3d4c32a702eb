"""Where a model adds a bias to a grid: the sites of FullGrad's bias gradients.

FullGrad (Srinivas & Fleuret 2019) splits a ReLU network's output into the
input-gradient term and one term per bias: b * dy/dz at every z = Wx + b. This
module finds those z in a Keras model and reads their biases:

- a convolution with `use_bias` (Conv1D/2D/3D, their Transpose, DepthwiseConv,
  SeparableConv): z is the input of the layer's `activation`, which Keras calls
  also when it is linear, so a fused ReLU (`activation="relu"`) does not hide z;
- BatchNormalization in inference: gamma (x - mean) / sqrt(var + eps) + beta is
  an affine map of x with the implicit bias beta - mean * gamma / sqrt(var + eps)
  (gamma = 1 without `scale`, beta = 0 without `center`); z is the layer's output.

Dense biases are left out, as both references (the authors' code and
pytorch-grad-cam) leave them out of the map: they have no location.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from .capture import Site
from .channels import is_channels_first
from .keras_internals import all_layers, call_site

CONVOLUTIONS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)
"""Keras's convolutions: each adds its bias, then applies `self.activation` (also when linear)."""


@dataclass(frozen=True)
class BiasSite:
    """A biased value z = Wx + b of a forward pass.

    Attributes:
        layer: the layer that adds the bias.
        site: where the probe watches z.
        bias: (C,) float32, the bias along z's channel axis (explicit or implicit).
    """

    layer: keras.layers.Layer
    site: Site
    bias: np.ndarray


def bias_sites(model: keras.Model) -> list[BiasSite]:
    """The bias sites of `model`, in the order of its layers.

    A BatchNormalization whose axis is not the model's channel axis is refused
    with a ValueError: its bias would be placed along the wrong axis.
    """
    channel_axes = (1,) if is_channels_first(model) else (-1,)
    sites = []
    for layer in all_layers(model):
        if isinstance(layer, CONVOLUTIONS) and getattr(layer, "use_bias", False):
            bias = keras.ops.convert_to_numpy(layer.bias)
            sites.append(BiasSite(layer, Site(layer, "activation", "input"), _float32(bias)))
        elif isinstance(layer, keras.layers.BatchNormalization):
            if layer.axis not in channel_axes:
                raise ValueError(
                    f"BatchNormalization layer '{layer.name}' of model '{model.name}' "
                    f"normalises axis {layer.axis}, not the channel axis {channel_axes[0]}, "
                    "so FullGrad cannot place its bias on the model's grids. "
                    f"Received: model '{model.name}'"
                )
            target, attribute = call_site(layer)
            sites.append(BiasSite(layer, Site(target, attribute), _implicit_bias(layer)))
    return sites


def _implicit_bias(layer: keras.layers.BatchNormalization) -> np.ndarray:
    """beta - mean * gamma / sqrt(variance + epsilon), in float64 then float32."""
    mean = _float64(layer.moving_mean)
    variance = _float64(layer.moving_variance)
    gamma = _float64(layer.gamma) if layer.scale else 1.0
    beta = _float64(layer.beta) if layer.center else 0.0
    return _float32(beta - mean * gamma / np.sqrt(variance + layer.epsilon))


def _float64(variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(variable).astype(np.float64)


def _float32(values) -> np.ndarray:
    return np.asarray(values, np.float32)
