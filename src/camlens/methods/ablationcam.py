"""Ablation-CAM (Desai & Ramaswamy 2020).

Gradient-free: the weight of channel k is the relative drop of the target score
when the channel is zeroed in the forward pass,
w_k = (y^c - y^c_k) / y^c, and the map is sum_k w_k A^k. The ablated passes run
in batches, like Score-CAM's masked ones: the image repeated, the layer's output
multiplied by a mask that zeroes one channel per copy. camlens divides by |y^c|
rather than y^c, so that a negative score (`score="logit"`) does not flip the
map; for the default score, a probability, the two are the same. With
`max_channels=k` only the k channels of largest activation variance are
ablated; the others weigh 0.
"""

from __future__ import annotations

import numpy as np


def channel_weights(inputs) -> np.ndarray:
    """(N, K, C): each channel's relative score drop; 0 for channels not scored."""
    count, channels = inputs.activations.shape[0], inputs.activations.shape[-1]
    weights = np.zeros((count, inputs.target_count, channels))
    for n in range(count):
        scored = inputs.channels(n)
        drops = []
        for start in range(0, len(scored), inputs.mask_batch_size):
            ablated = scored[start : start + inputs.mask_batch_size]
            keep = np.ones((len(ablated), channels), np.float32)
            keep[np.arange(len(ablated)), ablated] = 0
            drops.append(inputs.scores[n] - inputs.ablated_scores(n, keep))  # (m, K)
        baseline = np.abs(inputs.scores[n]).astype(np.float64)
        relative = np.concatenate(drops).astype(np.float64) / np.where(baseline > 0, baseline, 1.0)
        weights[n][:, scored] = inputs.sign * relative.T  # (K, C')
    return weights
