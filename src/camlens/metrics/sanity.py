"""The model-parameter randomization check (Adebayo et al. 2018).

An explanation that stays the same when the model's top layers lose what they
learned cannot be explaining the model. The check re-initialises, in a copy of
the model, the weighted layers from some point to the output (the top layers, as
the first steps of Adebayo et al.'s cascade), and compares the maps of the
trained model and of the copy by Spearman rank correlation. The user's model is
not touched. What is re-initialised depends on what the method reads:

- a class activation map method (Grad-CAM and the rest) reads the explained
  layer's activations and the gradients behind them: every layer with weights
  that runs *after* the explained layer (the first of `layers=`);
- LeGrad (an `attention_only` method) reads the attention maps of every block
  of a vision transformer: every layer with weights from the *first attention
  block* on, that block included (its attention, norms and MLP), so that no
  block it reads keeps its trained weights; the patch embedding (and anything
  before it) stays trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..api.explainer import Explainer
from ..methods import get_method
from ..model.attention import attention_blocks
from ..model.keras_internals import all_layers, sublayers


@dataclass
class RandomizationCheck:
    """Result of the randomization check over N images.

    Attributes:
        correlations: (N,) Spearman rank correlation of each image's maps.
        randomized: names of the layers re-initialised in the copy.
        threshold: the largest mean |correlation| that passes.
        passed: True when the maps changed: mean |correlation| < threshold.
    """

    correlations: np.ndarray
    randomized: list[str]
    threshold: float
    passed: bool


def randomization_check(
    model,
    images,
    method: str = "gradcam",
    layer=None,
    threshold: float = 0.5,
    seed: int = 0,
    relu: bool = True,
    counterfactual: bool = False,
    score: str | None = None,
    mask_batch_size: int = 64,
    token_grid: tuple[int, int] | None = None,
    prefix_tokens: int | None = None,
    output_index: int = 0,
    preprocess=None,
    max_channels: int | None = None,
    smooth: str | None = None,
    layers=None,
    combine: str = "mean",
    image_input=None,
    constant_inputs=None,
    detector=None,
) -> RandomizationCheck:
    """Compare the maps of `model` with those of a copy whose top layers are re-initialised.

    Args:
        model: a built Functional or Sequential Keras model.
        images: (N, H, W, C) inputs.
        method, layer, layers: as in `Explainer`; both models are explained
            at the layers the trained model's explainer uses. Every layer with
            weights after the first of them is re-initialised; for LeGrad,
            every layer with weights from its first attention block on.
        threshold: the check passes when the mean absolute rank correlation is
            below this.
        seed: seed of the new random weights.
        relu: as in `Explainer`, for both models, and so are `counterfactual`,
            `score`, `mask_batch_size`, `token_grid`, `prefix_tokens`,
            `output_index`, `preprocess`, `max_channels`, `smooth`, `combine`,
            `image_input`, `constant_inputs` and `detector`.
    """
    options = dict(
        method=method,
        relu=relu,
        counterfactual=counterfactual,
        score=score,
        mask_batch_size=mask_batch_size,
        token_grid=token_grid,
        prefix_tokens=prefix_tokens,
        output_index=output_index,
        max_channels=max_channels,
        smooth=smooth,
        combine=combine,
        image_input=image_input,
        constant_inputs=constant_inputs,
        detector=detector,
    )
    trained = Explainer(model, layer=layer, layers=layers, preprocess=preprocess, **options)
    inputs = trained.prepare(images)  # the copy takes the preprocessed images
    maps = trained.explain_prepared(inputs, None)
    copy = _copy(model)
    explained = [chosen.name for chosen in trained.layers]
    at = {"layer": explained[0]} if layers is None else {"layers": explained}
    untrained = Explainer(copy, **at, **options)
    randomized = _reinitialize_after(untrained, explained, inputs, seed, method)
    copied = untrained.explain_prepared(inputs, maps.targets[:, 0]).heatmaps[:, 0]
    correlations = np.array(
        [spearman(maps.heatmaps[n, 0].ravel(), copied[n].ravel()) for n in range(len(copied))]
    )
    return RandomizationCheck(
        correlations=correlations,
        randomized=randomized,
        threshold=threshold,
        passed=bool(np.mean(np.abs(correlations)) < threshold),
    )


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties; 0 when a side is constant."""
    a, b = _ranks(first), _ranks(second)
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt((a**2).sum() * (b**2).sum())
    return float((a * b).sum() / scale) if scale > 0 else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def _copy(model):
    try:
        copy = keras.models.clone_model(model)
    except Exception as error:  # clone_model raises several kinds for models it cannot copy
        raise TypeError(
            "The randomization check copies the model with keras.models.clone_model, "
            f"which failed for model '{model.name}': {error}"
        ) from error
    copy.set_weights(model.get_weights())
    return copy


def _reinitialize_after(
    explainer: Explainer, layer_names: list[str], inputs, seed: int, method: str
) -> list[str]:
    """Give new random weights to the weighted layers of the explainer's model
    that run after the first of `layer_names` (on the prepared `inputs`), or,
    for an attention method, from the first attention block on.

    Only layers without sub-layers count: a block's weights are its sub-layers'.
    """
    call_order = explainer.inspection_for(inputs).layers_in_call_order()
    order = [layer for layer in call_order if not sublayers(layer) or layer.name in layer_names]
    names = [layer.name for layer in order]
    for name in layer_names:
        if name not in names:
            raise ValueError(f"Layer '{name}' did not run in the copy of the model.")
    rng = np.random.default_rng(seed)
    randomized = []
    start = min(names.index(name) for name in layer_names) + 1
    if get_method(method).attention_only:
        first_block = attention_blocks(explainer.model, call_order, method)[0].block
        inside = {id(layer) for layer in all_layers(first_block)}
        start = min(index for index, layer in enumerate(order) if id(layer) in inside)
    for layer in order[start:]:
        if sublayers(layer) or not layer.trainable_weights:  # a block: its leaves count
            continue
        for variable in layer.trainable_weights:
            value = np.asarray(variable)
            scale = value.std() if value.std() > 0 else 0.05
            variable.assign(rng.normal(0, scale, value.shape).astype(value.dtype))
        randomized.append(layer.name)
    return randomized
