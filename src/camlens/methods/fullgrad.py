"""FullGrad (Srinivas & Fleuret 2019, "Full-Gradient Representation for Neural
Network Visualization"): the input-gradient term and every bias's term, summed.

For a ReLU network the output splits exactly into the input's term and one term
per bias: y = sum(dy/dx * x) + sum over biases b of sum(b * dy/dz), z = Wx + b
the biased value (`camlens.model.bias_sites`: convolutions' explicit biases and
BatchNormalization's implicit ones). The map is the sum of the terms' magnitudes
at the input's resolution, each rescaled first:

    map = psi(|dy/dx * x|) + sum over grid sites of upsample(psi(|b * dy/dz|))

psi is the authors' post-processing (their code, idiap/fullgrad-saliency): a
term's magnitudes are rescaled to [0, 1] over all its channels and locations
together, per image and target, then summed over channels. pytorch-grad-cam
rescales each channel on its own instead (and each colour channel of the input
term), which gives a channel whose bias term is negligible the same weight as
the layer's dominant one; camlens keeps the paper's relative magnitudes within a
layer. The upsampling is camlens's bilinear one with half-pixel centres (the
authors' uses aligned corners, pytorch-grad-cam OpenCV's, which is camlens's).
Sites whose value is not a grid of the input's rank (a BatchNormalization after
a Dense layer) have no location and are left out, as both references do. The
sum's minimum is subtracted, as both references do before display, so the
heatmap spans [0, 1]. The explained layer is not used; a model without biases
has the input term alone (the whole decomposition then).

The terms' magnitudes do not change sign with the score, so FullGrad has no
counterfactual map (`counterfactual=True` is refused).
"""

from __future__ import annotations

import numpy as np

from ..resize import upsample

EPSILON = 1e-7


def raw_maps(inputs) -> np.ndarray:
    """FullGrad maps (N, K, *input spatial)."""
    input_gradients, sites = inputs.bias_gradients()
    images = inputs.images[:, None]  # (N, 1, *input spatial, c)
    size = images.shape[2:-1]
    maps = rescaled(np.abs(input_gradients * images)).sum(axis=-1)
    for bias, gradients in sites:
        if gradients.ndim != images.ndim:  # no grid: no location to show
            continue
        term = rescaled(np.abs(gradients * bias)).sum(axis=-1)
        maps = maps + upsample(term, size)
    low = maps.min(axis=tuple(range(2, maps.ndim)), keepdims=True)
    return maps - low


def rescaled(terms: np.ndarray) -> np.ndarray:
    """(N, K, ..., C) terms rescaled to [0, 1] per image and target, over all
    their locations and channels together (the authors' psi)."""
    terms = np.asarray(terms, np.float64)
    axes = tuple(range(2, terms.ndim))
    terms = terms - terms.min(axis=axes, keepdims=True)
    return terms / (terms.max(axis=axes, keepdims=True) + EPSILON)
