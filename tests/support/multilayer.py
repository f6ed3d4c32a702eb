"""A model with two grids for `layers=[...]`, and bilinear upsampling written out."""

import keras
import numpy as np


def two_scale_model() -> keras.Model:
    """A 12x12 convolution, then a 6x6 one after pooling."""
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="fine")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="coarse")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


def bilinear(maps, size):
    """Half-pixel-centred bilinear upsampling of (..., h, w), edges clamped, written out."""

    def matrix(out, inp):
        weights = np.zeros((out, inp))
        for i in range(out):
            x = min(max((i + 0.5) * inp / out - 0.5, 0), inp - 1)
            low = int(np.floor(x))
            high = min(low + 1, inp - 1)
            weights[i, low] += 1 - (x - low)
            weights[i, high] += x - low
        return weights

    return matrix(size[0], maps.shape[-2]) @ maps @ matrix(size[1], maps.shape[-1]).T
