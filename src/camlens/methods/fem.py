"""FEM, the feature explanation method (Fuad et al. 2020).

Gradient-free and class-agnostic. Each channel A^k keeps the locations where it
responds unusually strongly, by the k-sigma rule: the binary mask
B^k = [A^k > mu_k + K_SIGMA * sigma_k], with mu_k and sigma_k the channel's mean
and (population) standard deviation over the locations. The map is the sum of
the masks weighted by the channel means: sum_k mu_k B^k. Every target of an
image gets the same map.

This is the paper's definition, as its authors' code computes it (a strict
threshold: a constant channel has no mask) and as Xplique's FEM does.
pytorch-grad-cam's `FEM` departs from it: it weights the activations, not the
masks, each channel by the share of its locations above the threshold,
sum_k mean(B^k) A^k. The two agree where few channels fire (r = 0.92 on a
MobileNetV2, `benchmarks/agreement.py`) but are not the same map.
"""

from __future__ import annotations

import numpy as np

K_SIGMA = 2.0
"""The paper's threshold: two standard deviations above the channel's mean."""


def raw_maps(inputs) -> np.ndarray:
    """Mean-weighted sums (N, K, h, w) of the channels' k-sigma masks."""
    activations = inputs.activations.astype(np.float64)
    spatial = tuple(range(1, activations.ndim - 1))
    means = activations.mean(axis=spatial, keepdims=True)
    deviations = activations.std(axis=spatial, keepdims=True)
    masks = activations > means + K_SIGMA * deviations
    maps = (masks * means).sum(axis=-1)
    return inputs.for_every_target(maps)
