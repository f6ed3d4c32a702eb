"""The probe run at one layer, its tokens laid out as a grid; and the automatic
choice of that layer, which runs the candidates until the score depends on one."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from ..methods.registry import BUILT_IN
from ..model.inputs import ModelInputs, single_input_shape
from ..model.inspection import Inspection, inspect
from ..model.layer_choice import Candidate, candidate_layers, no_candidate_error
from ..model.token_grid import Layout, layout_for
from ..probe import ProbeResult, probe_for
from ..probe.plan import ID, SIMILAR, TOP, TargetPlan


def reads_layer_only(explainer) -> bool:
    """Whether the explainer's maps come from nothing but its layer's activations
    and gradients (or second derivatives) on the images given: so that a cheaper
    model with the same layer and score gives the same maps. A method registered
    by the user may read the input images: it does not count."""
    method = explainer.method
    others = method.channel_passes or method.input_gradients or method.attention_only
    return (
        method.name in BUILT_IN
        and method.uses_layer
        and not others
        and not method.comparisons
        and explainer.smooth is None
    )


def fixed_shape_inspection(model: keras.Model, image_slots) -> Inspection | None:
    """The model's inspection for its own input shape (channels last, as camlens
    works); `None` without a graph, with several inputs or with `None` dimensions."""
    shape = single_input_shape(model, image_slots)
    if shape is None or None in shape[1:]:
        return None
    return inspect(model, shape)


def run_at(
    explainer,
    layer,
    grid: Layout | None,
    inspection: Inspection,
    batch: ModelInputs,
    plan: TargetPlan,
    pad_to: int | None,
    gradients: bool,
    output_index: int | None = None,
) -> tuple[ProbeResult, Layout]:
    """The probe's arrays at `layer` for the targets of `plan`, tokens as a grid.

    Args:
        explainer: the `Explainer` whose model, score, output index, token
            grid options and `logit_gradients` are used.
        grid: the layer's layout when known (a candidate's), else found here.
        output_index: the layer's tensor, where it is not the explainer's (a
            candidate of the automatic choice).

    Returns:
        `(result, layout)`: activations (N, *grid, C), gradients (N, K, *grid, C).
    """
    model, score = explainer.model, explainer.score
    if output_index is None:
        output_index = explainer.output_index
    token_grid, prefix_tokens = explainer.token_grid, explainer.prefix_tokens
    probe = probe_for(model, layer, output_index)
    result = probe.run(
        batch.for_probe(),
        plan,
        score,
        gradients=gradients,
        pad_to=pad_to,
        logit_gradients=explainer.logit_gradients,
    )
    if grid is None:
        shape = inspection.output_shape(layer, output_index)
        assert shape is not None and inspection.input_shape is not None, "the layer ran"
        positions = inspection.token_positions(layer)
        grid = layout_for(
            shape, inspection.input_shape, layer.name, token_grid, prefix_tokens, positions
        )
    result.activations = grid.apply(result.activations, token_axis=1)
    if result.gradients is not None:
        result.gradients = grid.apply(result.gradients, token_axis=2)
    if result.logit_gradients is not None:
        result.logit_gradients = grid.apply(result.logit_gradients, token_axis=2)
    return result, grid


def choose_layer(
    inspection: Inspection,
    run: Callable[[Candidate], ProbeResult],
    targets: int,
    model: keras.Model,
    token_grid=None,
    prefix_tokens=None,
    slots: tuple = (),
) -> tuple[Candidate, ProbeResult]:
    """Run the candidates, best first, until the score depends on one.

    The candidates run with gradients even for a method that uses none: a layer
    the score does not depend on is as useless to it. The tensor an earlier
    choice for this model and input shape settled on runs first, and the choice
    is recorded on the inspection for the next.

    Args:
        run: `run(candidate)`, the probe's result at a candidate (with gradients).
        targets: how many of the plan's slots are targets (the others are
            compared classes).
        slots: the plan's slots: what settles a choice besides the grid
            options (a DINOv2's class token and its mean of patch tokens
            depend on different layers).

    Returns:
        `(candidate, result)`; the first candidate when the score depends on
        none (its maps then say so: `blank_maps`).
    """
    first = None
    key = (token_grid, prefix_tokens, _score_kinds(slots))
    settled = inspection.settled_layers.get(key)
    for candidate in candidate_layers(inspection, token_grid, prefix_tokens, first=settled):
        result = run(candidate)
        first = first or (candidate, result)
        if np.any(result.gradients[:, :targets]):
            inspection.settled_layers[key] = (candidate.layer, candidate.output_index)
            return candidate, result
    if first is None:
        raise no_candidate_error(model, token_grid, prefix_tokens)
    return first


def _score_kinds(slots: tuple) -> tuple:
    """What kinds of score the slots are (class scores alike whichever the class)."""
    classes = (TOP, ID, SIMILAR)
    return tuple(sorted({("class" if s.kind in classes else s.kind, s.pool) for s in slots}))
