"""Score-CAM (Wang et al. 2020), following the paper's Algorithm 1.

Each channel A^k, upsampled to the input size (bilinear; linear or trilinear
for 1-D and 3-D inputs) and min-max normalised
to [0, 1], masks the input; the masked images go through the model in batches.
The channel weights are the softmax, over the channels, of the increase in the
target score, C(A^k) = f^c(X * H^k) - f^c(X_b); softmax ignores the constant
baseline term f^c(X_b), so it is not computed. f^c is the model's output for the
class (post-softmax for a softmax model), as `score` everywhere in camlens;
`score="logit"` uses the pre-softmax score, which makes the softmax over channels
much peakier (on the demo data it pointed at the object less often: 0.93 against
0.995 with boxes). The authors' code, and pytorch-grad-cam, skip the softmax over
channels and weight each channel by the masked image's class probability.

A channel that is constant over the image gives an all-zero mask. With
`max_channels=k` only the k channels of largest activation variance are scored
and share the softmax (Faster Score-CAM, as tf-keras-vis ships it); the others
weigh 0.
"""

from __future__ import annotations

import numpy as np

from ..resize import upsample


def channel_weights(inputs) -> np.ndarray:
    """(N, K, C): the softmax over channels of each masked image's score; 0 for
    channels not scored."""
    activations = inputs.activations.astype(np.float64)
    size = inputs.images.shape[1:-1]
    weights = np.zeros((len(activations), inputs.target_count, activations.shape[-1]))
    for n in range(len(activations)):
        channels = inputs.channels(n)
        scores = []
        for start in range(0, len(channels), inputs.mask_batch_size):
            chunk = activations[n][..., channels[start : start + inputs.mask_batch_size]]
            masks = _normalized(upsample(np.moveaxis(chunk, -1, 0), size))
            masked = inputs.images[n][None] * masks[..., None].astype(np.float32)
            scores.append(inputs.masked_scores(n, masked))
        increase = inputs.sign * np.concatenate(scores).astype(np.float64)  # (C', K)
        weights[n][:, channels] = _softmax(increase, axis=0).T
    return weights


def _normalized(upsampled: np.ndarray) -> np.ndarray:
    """Min-max normalise each mask (M, *spatial) to [0, 1]; constant masks become 0."""
    spatial = tuple(range(1, upsampled.ndim))
    low = upsampled.min(axis=spatial, keepdims=True)
    span = upsampled.max(axis=spatial, keepdims=True) - low
    return np.where(span > 0, (upsampled - low) / np.where(span > 0, span, 1.0), 0.0)


def _softmax(values: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)
