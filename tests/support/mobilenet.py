"""The MobileNetV2 of the blank-map cases: keras.applications at 96x96, numpy weights.

The kernels are drawn from numpy (He-normal: variance 2 / fan-in, seeded), not
from Keras's initialisers, so the model is the same on every backend, and its
activations keep their scale from layer to layer without fitting BatchNorm's
statistics (left at mean 0, variance 1, the identity). Seed 3 is the case of
the blank `smooth="eigen"` map: at `block_13_expand_relu` most of Grad-CAM's
evidence for the top class is negative. The photo is scikit-image's astronaut,
resized to 96x96 and scaled to [-1, 1] as MobileNetV2 expects.
"""

from __future__ import annotations

import keras
import numpy as np

SHAPE = (96, 96, 3)
SEED = 3


def mobilenet_v2(seed: int = SEED) -> keras.Model:
    model = keras.applications.MobileNetV2(weights=None, input_shape=SHAPE)
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape, path = tuple(variable.shape), variable.path
        if path.endswith("kernel"):
            receptive = int(np.prod(shape[:-2]))
            fan_in = receptive if "depthwise" in path else receptive * shape[-2]
            value = rng.normal(0, np.sqrt(2 / fan_in), shape)
        elif path.endswith(("gamma", "moving_variance")):
            value = np.ones(shape)
        else:  # biases, beta, moving_mean
            value = np.zeros(shape)
        variable.assign(value.astype(np.float32))
    return model


def astronaut() -> np.ndarray:
    """(1, 96, 96, 3) float32 in [-1, 1]."""
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize(SHAPE[:2], Image.BILINEAR)
    return (np.asarray(photo, np.float32)[None] / 127.5 - 1.0).astype(np.float32)
