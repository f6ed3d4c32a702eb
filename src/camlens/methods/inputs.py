"""What a method receives: the probe's arrays, and the extra passes some methods run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class MethodInputs:
    """The arrays a method combines into maps, for N images and K targets.

    Attributes:
        activations: (N, h, w, C) the layer's output.
        gradients: (N, K, h, w, C) d score / d activations; negated for a
            counterfactual explanation; `None` for methods declared without
            gradients.
        images: (N, H, W, c) the input batch.
        sign: +1, or -1 for a counterfactual explanation (what speaks against
            the target): methods that do not use gradients apply it themselves.
        masked_scores: `masked_scores(n, batch)` runs the model on a batch of
            variants of image n and returns their (M, K) target scores.
        mask_batch_size: how many masked images one forward pass may take.
        comparison_gradients: (N, K, M, h, w, C) the gradients of the M classes
            each target is compared with, for methods with `comparisons`
            (Finer-CAM); `None` otherwise.
        target_count: K, the number of targets.
        scores: (N, K) the explained scores.
        ablated_scores: `ablated_scores(n, keep)` runs image n with the layer's
            channels multiplied by each row of `keep` (M, C) and returns the
            (M, K) target scores (Ablation-CAM).
        max_channels: how many channels the per-channel methods score (see
            `channels`); `None` for all.
        hessian_products: `hessian_products()` returns (N, K, h, w, C) the
            Hessian of each score with respect to the activations times the
            activations, signed like `gradients` (Shapley-CAM).
        guided_gradients: `guided_gradients()` returns (N, K, H, W, c) the
            guided-backpropagation gradients with respect to the input, signed
            like `gradients` (Guided Grad-CAM).
        attention_gradients: `attention_gradients()` returns, per attention
            block of a vision transformer in order, (N, K, heads, T, h, w) the
            gradients of that block's layer-wise score with respect to its
            attention probabilities, the key tokens laid out as the layer's
            grid, signed like `gradients` (LeGrad).
        bias_gradients: `bias_gradients()` returns `(input_gradients,
            sites)`: (N, K, *input) the gradients with respect to the input,
            and per bias site of the model (`camlens.model.bias_sites`)
            `(bias (C,), gradients (N, K, *z))` at its biased value z, all from
            one backward pass and signed like `gradients` (FullGrad).
        detection_similarities: for a detector's targets,
            `detection_similarities(n, batch)` runs a batch of variants of
            image n through the detector and returns (M, K) how similar each
            variant's predictions are to each target detection (D-RISE);
            `None` otherwise.
    """

    activations: np.ndarray
    gradients: np.ndarray
    images: np.ndarray
    sign: float
    masked_scores: Callable[[int, np.ndarray], np.ndarray]
    mask_batch_size: int
    target_count: int
    comparison_gradients: np.ndarray | None = None
    scores: np.ndarray | None = None
    ablated_scores: Callable[[int, np.ndarray], np.ndarray] | None = None
    max_channels: int | None = None
    hessian_products: Callable[[], np.ndarray] | None = None
    guided_gradients: Callable[[], np.ndarray] | None = None
    attention_gradients: Callable[[], list[np.ndarray]] | None = None
    bias_gradients: Callable[[], tuple] | None = None
    detection_similarities: Callable[[int, np.ndarray], np.ndarray] | None = None

    def for_every_target(self, maps: np.ndarray) -> np.ndarray:
        """Class-agnostic maps (N, *spatial) repeated for the K targets: (N, K, *spatial)."""
        return np.repeat(maps[:, None], self.target_count, axis=1)

    def channels(self, n: int) -> np.ndarray:
        """The channels of image n that per-channel methods score, in order: all
        of them, or the `max_channels` of largest activation variance over the
        locations (Faster Score-CAM)."""
        image = self.activations[n]
        count = image.shape[-1]
        if self.max_channels is None or self.max_channels >= count:
            return np.arange(count)
        variances = image.reshape(-1, count).astype(np.float64).var(axis=0)
        return np.sort(np.argsort(-variances, kind="stable")[: self.max_channels])
