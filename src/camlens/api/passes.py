"""What a method receives: the arrays of one probe pass, and the extra passes.

Most methods need nothing beyond the activations and gradients of one pass.
Score-CAM masks the image, Ablation-CAM zeroes channels, Shapley-CAM takes
Hessian products, Guided Grad-CAM input gradients, LeGrad the gradients at
each attention block and FullGrad the gradients at every bias: those passes are
handed to the method as functions, which run only when it calls them.
"""

from __future__ import annotations

import numpy as np

from ..methods import MethodInputs
from ..model.bias_sites import bias_sites
from ..model.inputs import ModelInputs
from ..model.token_grid import Layout
from ..probe import Probe, ProbeResult
from ..probe.attention import attention_probes
from ..probe.plan import SIMILAR, TargetPlan


def method_inputs(
    probe: Probe,
    batch: ModelInputs,
    plan: TargetPlan,
    result: ProbeResult,
    layout: Layout,
    *,
    score: str,
    counterfactual: bool,
    mask_batch_size: int,
    max_channels: int | None,
    compared: bool,
    pad_to: int | None,
    detection_similarities=None,
) -> MethodInputs:
    """The `MethodInputs` of one probe pass.

    Args:
        probe: the probe of the explained layer, for the extra passes.
        batch: the prepared input.
        plan, result: the targets and the probe's arrays (tokens laid out).
        layout: how the layer's output was laid out as a grid.
        score: the score kind explained.
        counterfactual: negate the scores (what speaks against each target).
        mask_batch_size, max_channels: of the per-channel passes.
        compared: whether the slots after the targets are compared classes
            (Finer-CAM), whose gradients go to `comparison_gradients`.
        pad_to: the batch size the probe runs at.
        detection_similarities: for a detector's targets, D-RISE's
            similarities (see `MethodInputs`).
    """
    images = batch.image
    sign = -1.0 if counterfactual else 1.0
    count = sum(slot.kind != SIMILAR for slot in plan.slots)  # then the compared classes

    def masked_scores(n: int, masked: np.ndarray) -> np.ndarray:
        variants = plan.for_variants(n, result.targets[n], result.outputs, len(masked))
        return probe.scores(batch.select([n] * len(masked), masked).for_probe(), variants, score)

    def ablated_scores(n: int, keep: np.ndarray) -> np.ndarray:
        variants = plan.for_variants(n, result.targets[n], result.outputs, len(keep))
        copies = [n] * len(keep)
        return probe.ablated_scores(batch.select(copies).for_probe(), variants, keep, score)

    def hessian_products() -> np.ndarray:
        products = probe.hessian_products(batch.for_probe(), plan, score, pad_to)[:, :count]
        return sign * layout.apply(products, token_axis=2)

    def guided_gradients() -> np.ndarray:
        return sign * probe.guided_gradients(batch.for_probe(), plan, score, pad_to)[:, :count]

    def attention_gradients() -> list[np.ndarray]:
        gradients = []
        for attention in attention_probes(probe.model, batch.for_probe()):
            found = attention.run(batch.for_probe(), plan, score, pad_to=pad_to).gradients
            assert found is not None, "a pass with gradients"
            check_key_tokens(layout, found.shape[-1], probe.layer.name)
            gradients.append(sign * layout.apply(found[:, :count], token_axis=4))
        return gradients

    def bias_gradients() -> tuple:
        sites = bias_sites(probe.model)
        on_input, at_sites, _ = probe.site_gradients(
            batch.for_probe(), plan, tuple(site.site for site in sites), score, pad_to
        )
        pairs = [(site.bias, sign * g[:, :count]) for site, g in zip(sites, at_sites)]
        return sign * on_input[:, :count], pairs

    gradients = comparisons = None
    if result.gradients is not None:
        gradients = sign * result.gradients[:, :count]
    if compared:
        others = sign * result.gradients[:, count:]
        comparisons = others.reshape((len(images), count, -1) + others.shape[2:])
    return MethodInputs(
        activations=result.activations,
        gradients=gradients,
        images=images,
        sign=sign,
        masked_scores=masked_scores,
        mask_batch_size=mask_batch_size,
        target_count=count,
        comparison_gradients=comparisons,
        scores=result.scores[:, :count],
        ablated_scores=ablated_scores,
        max_channels=max_channels,
        hessian_products=hessian_products,
        guided_gradients=guided_gradients,
        attention_gradients=attention_gradients,
        bias_gradients=bias_gradients,
        detection_similarities=detection_similarities,
    )


def check_key_tokens(layout: Layout, tokens: int, layer_name: str) -> None:
    """A ValueError unless the explained layer's tokens are the attention's `tokens` keys."""
    if layout.grid is None or layout.prefix + layout.grid[0] * layout.grid[1] != tokens:
        raise ValueError(
            f"LeGrad lays the attention's {tokens} key tokens out on the explained "
            f"layer's patch grid, but layer '{layer_name}' does not output those "
            f"{tokens} tokens. Explain a transformer block's output (or leave layer "
            f"to the automatic choice). Received: layer='{layer_name}'"
        )
