"""The numpy net's activations and gradients, and the formulas the method tests share.

Written with loops over the numpy net of `support.reference`, not with camlens's code.
"""

import numpy as np

from support.models import images, residual_weights
from support.reference import residual_forward, residual_gradcam

TARGET = 3


def reference_terms(score):
    doc = images(seed=21)
    _, probs, activations, gradients = residual_gradcam(residual_weights(), doc[0], TARGET, score)
    return doc, activations, gradients


def normalized(raw):
    raw = np.maximum(raw, 0)
    return raw / (raw.max() + 1e-7)


def combine(activations, weights):
    return sum(weights[k] * activations[:, :, k] for k in range(activations.shape[-1]))


def gradcam_reference(a, g):
    return combine(a, g.mean(axis=(0, 1)))


def masked_scores(doc, a, key):
    """The net's `key` ("logits" or "probs") for the target, on each channel's masked image."""
    scores = []
    for k in range(a.shape[-1]):
        channel = a[:, :, k]  # the layer keeps the input size: upsampling is the identity
        span = channel.max() - channel.min()
        mask = (channel - channel.min()) / span if span > 0 else np.zeros_like(channel)
        masked = doc[0].astype(np.float64) * mask[:, :, None]
        scores.append(residual_forward(residual_weights(), masked)[key][TARGET])
    weights = np.exp(np.array(scores) - max(scores))
    return weights / weights.sum()  # softmax over the channels
