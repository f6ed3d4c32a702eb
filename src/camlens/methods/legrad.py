"""LeGrad (Bousselham et al. 2024, "LeGrad: An Explainability Method for Vision
Transformers via Feature Formation Sensitivity"), for vision transformers.

For each attention block l: the gradient of a score s^l with respect to the
block's attention probabilities A^l (heads, T queries, S keys), its positive
part, averaged over the heads and over every query row; the key tokens that are
patches laid out as the patch grid (the class, distillation and register tokens'
columns dropped). The blocks' maps are summed, and the sum normalised as every
camlens map is (ReLU, then divided by its maximum).

The score s^l is the paper's layer-wise one, not the final score everywhere:
block l's own output tokens go through the model's final norm and head, the
later blocks skipped (their input handed on unchanged), so each block is
scored by what the model would predict from its tokens. The abstract's "the
activations of the last as well as intermediate tokens" and the authors' code
(WalBouss/LeGrad: `compute_legrad_clip` scores each block's intermediate
features through `ln_post` and the projection) both do this; with the final
score, the gradient at an early block's attention would only measure its
influence through all later blocks.

Not built: the form for an attention-pooling head (SigLIP), where the paper
reads the pooling's attention for every block's tokens; such a model is
refused with a `ValueError`, as is a model without attention (a CNN).

Deviations from the authors' code, each deliberate:

- Every block is used. The paper aggregates "over all layers"; the authors'
  wrapper starts at `layer_index=-2` by default (the last two blocks).
- The intermediate tokens are pooled by the model's own head (the class token
  for keras-hub's ViT and CLIP, class and distillation tokens for DeiT); the
  authors' CLIP code averages all tokens before `ln_post`.
- The summed map is divided by its maximum; the authors min-max normalise
  (their sum of ReLU'd gradients is non-negative, so only the offset differs).
"""

from __future__ import annotations

import numpy as np

from .inputs import MethodInputs


def raw_maps(inputs: MethodInputs) -> np.ndarray:
    """(N, K, h, w): the sum over blocks of mean_{heads, queries} ReLU(dS^l / dA^l)."""
    assert inputs.attention_gradients is not None, "the explainer hands the attention pass"
    blocks = inputs.attention_gradients()  # each (N, K, heads, T, h, w)
    return sum(np.maximum(gradients, 0).mean(axis=(2, 3)) for gradients in blocks)
