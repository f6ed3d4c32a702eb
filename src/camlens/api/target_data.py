"""Targets whose data the model itself computes, resolved before planning.

A `Prompt` of an image–text backbone needs its text embedding (the text tower
run once per prompt, `camlens.api.prompts`); a `Similarity` with a reference
image needs that image's embedding (one forward pass), and one that averages a
token output's patch tokens needs to know where they start (the patch grid,
`camlens.model.token_grid`). What comes out is a batch and targets that
`camlens.api.planning` plans like any other; resolving twice changes nothing,
so every entry point of `Explainer` may call it.
"""

from __future__ import annotations

import keras
import numpy as np

from ..model.channels import is_channels_first, to_model_layout
from ..model.inspection import Inspection, as_input_structure
from ..model.slots import ModelInputs
from ..model.token_grid import layout_for
from ..targets import Similarity


def with_target_data(explainer, batch: ModelInputs, targets):
    """`(batch, targets)` with what the targets need from the model filled in.

    Args:
        explainer: the `Explainer` (its model, `towers`, `prepare`).
        batch: the prepared input.
        targets: as the user passed them.
    """
    if explainer.towers is not None:
        return explainer.towers.prompted(batch, targets)
    items = targets if isinstance(targets, list) else [targets]
    if not any(isinstance(item, Similarity) and _unresolved(item) for item in items):
        return batch, targets
    inspection = explainer.inspection_for(batch)
    resolved = [
        _resolved(explainer, inspection, item) if isinstance(item, Similarity) else item
        for item in items
    ]
    return batch, resolved if isinstance(targets, list) else resolved[0]


def _unresolved(item: Similarity) -> bool:
    return item.is_image or (item.pooling == "mean" and item.first_patch is None)


def _resolved(explainer, inspection: Inspection, item: Similarity) -> Similarity:
    """`item` with a reference vector and, for mean pooling of tokens, its first patch token."""
    if not _unresolved(item):
        return item
    index = _output_index(inspection, item)
    shape = inspection.output_shapes[index]
    first = None
    if len(shape) == 3:
        layout = layout_for(shape, inspection.input_shape or (), f"output {index}")
        first = layout.prefix if item.pooling == "mean" else 0
    reference = item.reference
    if item.is_image:
        reference = _embedding_of_image(explainer, item, index, first)
    return item.resolved(reference, first)


def _output_index(inspection: Inspection, item: Similarity) -> int:
    """The index of the embedding output; the planning checks it, and says how it fails."""
    if isinstance(item.output, str):
        names = [info.name for info in inspection.outputs]
        return names.index(item.output) if item.output in names else 0
    if item.output is None or not 0 <= int(item.output) < len(inspection.outputs):
        return 0
    return int(item.output)


def _embedding_of_image(explainer, item: Similarity, index: int, first: int | None) -> np.ndarray:
    """(dim,) the model's embedding of the reference image, pooled as the score pools it."""
    if explainer.image_slots is not None:
        raise ValueError(
            "Similarity with a reference image computes its embedding with the model, "
            "which camlens does for models with a single input; pass the reference "
            "embedding (a vector) instead. Received: a reference image of shape "
            f"{item.reference.shape}"
        )
    image = explainer.prepare(item.reference, name="Similarity(reference)", single=True)
    model = explainer.model
    fed = to_model_layout(image) if is_channels_first(model) else image
    output = keras.tree.flatten(model(as_input_structure(model, fed), training=False))[index]
    output = keras.ops.convert_to_numpy(output).astype(np.float32)
    if output.ndim == 3:
        output = output[:, 0] if item.pooling == "class" else output[:, first:].mean(axis=1)
    if output.ndim != 2:
        return output  # not an embedding: the planning refuses it
    return output[0]
