"""Small seeded models and inputs shared by the tests (`from helpers import ...`).

Weights come from numpy with a fixed seed, not from Keras initialisers, so the
same model has the same weights on every backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

SIZE = 12
CHANNELS = (6, 8)
CLASSES = 5


def residual_weights(seed: int = 0) -> list[np.ndarray]:
    """[k0, b0, k1, b1, k2, b2, dense_kernel, dense_bias] for the residual nets."""
    rng = np.random.default_rng(seed)
    c0, c1 = CHANNELS

    def kernel(cin, cout):
        return rng.normal(0, np.sqrt(2 / (9 * cin)), (3, 3, cin, cout))

    weights = [
        kernel(3, c0),
        rng.normal(0, 0.05, c0),
        kernel(c0, c1),
        rng.normal(0, 0.05, c1),
        kernel(c1, c0),
        rng.normal(0, 0.05, c0),
        rng.normal(0, 1.0, (c0, CLASSES)),
        rng.normal(0, 0.1, CLASSES),
    ]
    return [w.astype(np.float32) for w in weights]


def images(count: int = 1, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, SIZE, SIZE, 3)).astype(np.float32)


def _residual_trunk(inputs):
    c0, c1 = CHANNELS
    skip = layers.Conv2D(c0, 3, padding="same", activation="relu", name="conv0")(inputs)
    x = layers.Conv2D(c1, 3, padding="same", activation="relu", name="conv1")(skip)
    x = layers.Conv2D(c0, 3, padding="same", name="conv2")(x)
    x = layers.Add(name="merge")([x, skip])
    return layers.ReLU(name="merged_relu")(x)


def _head(x):
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return layers.Dense(CLASSES, activation="softmax", name="predictions")(x)


def functional_resnet() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, _head(_residual_trunk(inputs)), name="flat")
    model.set_weights(residual_weights())
    return model


def residual_base() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    return keras.Model(inputs, _residual_trunk(inputs), name="base")


def nested_sequential() -> keras.Model:
    """The transfer-learning pattern: Sequential([base, pooling, head])."""
    model = keras.Sequential(
        [
            residual_base(),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(CLASSES, activation="softmax", name="predictions"),
        ],
        name="nested_sequential",
    )
    model.set_weights(residual_weights())
    return model


def nested_functional() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, _head(residual_base()(inputs)), name="nested_functional")
    model.set_weights(residual_weights())
    return model


class ResidualNet(keras.Model):
    """The residual net as a subclassed model."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        c0, c1 = CHANNELS
        self.conv0 = layers.Conv2D(c0, 3, padding="same", activation="relu", name="conv0")
        self.conv1 = layers.Conv2D(c1, 3, padding="same", activation="relu", name="conv1")
        self.conv2 = layers.Conv2D(c0, 3, padding="same", name="conv2")
        self.predictions = layers.Dense(CLASSES, activation="softmax", name="predictions")
        self.merge = layers.Add(name="merge")
        self.merged_relu = layers.ReLU(name="merged_relu")
        self.pool = layers.GlobalAveragePooling2D(name="pool")

    def call(self, x):
        skip = self.conv0(x)
        x = self.merged_relu(self.merge([self.conv2(self.conv1(skip)), skip]))
        return self.predictions(self.pool(x))


def subclassed_resnet() -> keras.Model:
    model = ResidualNet(name="subclassed")
    model(images())
    model.set_weights(residual_weights())
    return model


MODEL_BUILDERS = {
    "functional": functional_resnet,
    "nested_sequential": nested_sequential,
    "nested_functional": nested_functional,
    "subclassed": subclassed_resnet,
}


def rank_cnn(input_shape: tuple, classes: int, seed: int = 0) -> keras.Model:
    """Conv ('conv', ReLU), max pooling by 2, global average pooling, linear dense,
    of the input's rank: (T, C) -> Conv1D, (D, H, W, C) -> Conv3D; seeded weights."""
    rank = len(input_shape) - 1
    conv, pool, average = (
        getattr(layers, f"{name}{rank}D") for name in ("Conv", "MaxPooling", "GlobalAveragePooling")
    )
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            conv(4, 3, padding="same", activation="relu", name="conv"),
            pool(2),
            average(),
            layers.Dense(classes),
        ]
    )
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


class CountingIdentity(keras.layers.Layer):
    """Counts how often its Python `call` runs: under a trace, only while tracing."""

    calls = 0

    def call(self, x):
        CountingIdentity.calls += 1
        return x
