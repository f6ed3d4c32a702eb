"""A tiny vision transformer of our own, and LeGrad's gradients written out.

The model: 8x8 patches of a 32x32 image (a strided convolution), a class
token, three blocks (LayerNormalization, `keras.layers.MultiHeadAttention`,
residual, a GELU Dense, residual), a final LayerNormalization, the class token
through a softmax Dense head.

`layerwise_gradient` recomputes the model by hand up to block l with the
attention probabilities of block l as a free input (queries, keys and values
from the layer's own projections, the attention written as einsums), then the
final norm and head on block l's tokens (LeGrad's layer-wise score, the later
blocks left out), and differentiates with the backend's autodiff.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from support.hub import gradient

SIZE, PATCH, DIM, HEADS, BLOCKS, CLASSES = 32, 8, 16, 2, 3, 4


class ClassToken(keras.layers.Layer):
    """Prepends a learned token to the patch tokens."""

    def build(self, shape):
        self.token = self.add_weight(shape=(1, 1, shape[-1]), initializer="random_normal")

    def call(self, tokens):
        token = ops.tile(ops.cast(self.token, tokens.dtype), (ops.shape(tokens)[0], 1, 1))
        return ops.concatenate([token, tokens], axis=1)


class FirstToken(keras.layers.Layer):
    def call(self, tokens):
        return tokens[:, 0]


class Block(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.norm = keras.layers.LayerNormalization()
        self.attention = keras.layers.MultiHeadAttention(HEADS, DIM // HEADS)
        self.mlp_norm = keras.layers.LayerNormalization()
        self.mlp = keras.layers.Dense(DIM, activation="gelu")

    def call(self, tokens):
        normed = self.norm(tokens)
        tokens = tokens + self.attention(normed, normed)
        return tokens + self.mlp(self.mlp_norm(tokens))


def tiny_transformer() -> keras.Model:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SIZE, SIZE, 3))
    patches = keras.layers.Conv2D(DIM, PATCH, strides=PATCH, name="patches")(inputs)
    tokens = ClassToken(name="class_token")(keras.layers.Reshape((-1, DIM))(patches))
    for index in range(BLOCKS):
        tokens = Block(name=f"block_{index}")(tokens)
    tokens = keras.layers.LayerNormalization(name="final_norm")(tokens)
    head = keras.layers.Dense(CLASSES, activation="softmax", name="head")
    return keras.Model(inputs, head(FirstToken()(tokens)), name="tiny_vit")


def layerwise_gradient(
    model: keras.Model, x: np.ndarray, index: int, target: int, final: bool = False
) -> np.ndarray:
    """(N, heads, T, T): d head(final_norm(z^l))[:, target] / d A^l, by autodiff;
    with `final`, of the model's own output (the later blocks run)."""
    tokens = model.get_layer("class_token")(
        ops.reshape(model.get_layer("patches")(ops.convert_to_tensor(x)), (len(x), -1, DIM))
    )
    for earlier in range(index):
        tokens = model.get_layer(f"block_{earlier}")(tokens)
    block = model.get_layer(f"block_{index}")
    normed = block.norm(tokens)
    mha = block.attention
    queries, keys = mha.query_dense(normed), mha.key_dense(normed)  # (N, T, heads, d)
    values = mha.value_dense(normed)
    logits = ops.einsum("ntkd,nskd->nkts", queries, keys) / np.sqrt(DIM // HEADS)
    probabilities = ops.convert_to_numpy(ops.softmax(logits, axis=-1))

    def score(attention):
        mixed = mha.output_dense(ops.einsum("nkts,nskd->ntkd", attention, values))
        z = tokens + mixed
        z = z + block.mlp(block.mlp_norm(z))
        for later in range(index + 1, BLOCKS if final else 0):
            z = model.get_layer(f"block_{later}")(z)
        out = model.get_layer("head")(model.get_layer("final_norm")(z)[:, 0])
        return ops.sum(out[:, target])

    return gradient(score, probabilities)[1]
