"""FullGrad's references: its post-processing written in numpy (the authors'
per-layer rescaling) and the input gradient by each backend's own autodiff."""

from __future__ import annotations

import keras
import numpy as np

from support.multilayer import bilinear


def rescaled(terms: np.ndarray) -> np.ndarray:
    """|terms| of one image, min-max rescaled over all locations and channels."""
    terms = np.abs(np.asarray(terms, np.float64))
    terms = terms - terms.min()
    return terms / (terms.max() + 1e-7)


def fullgrad_map(image, input_gradient, biases, gradients) -> np.ndarray:
    """The authors' FullGrad map of one image (H, W), min-max scaled: psi of the
    input term, plus each grid site's psi(|b g|) summed over channels and
    upsampled bilinearly (half-pixel centres)."""
    total = rescaled(input_gradient * image).sum(axis=-1)
    for bias, gradient in zip(biases, gradients):
        total = total + bilinear(rescaled(gradient * bias).sum(axis=-1), image.shape[:2])
    total = total - total.min()
    return total / (total.max() + 1e-7)


def input_gradient(model: keras.Model, x: np.ndarray, target: int) -> np.ndarray:
    """d sum_n output[n, target] / d x, with the backend's own autodiff."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        tensor = torch.tensor(x, requires_grad=True)
        model(tensor, training=False)[:, target].sum().backward()
        return tensor.grad.numpy()
    if backend == "tensorflow":
        import tensorflow as tf

        tensor = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            total = tf.reduce_sum(model(tensor, training=False)[:, target])
        return tape.gradient(total, tensor).numpy()
    import jax

    return np.asarray(jax.jit(jax.grad(lambda t: model(t, training=False)[:, target].sum()))(x))
