"""Calls whose scores read a vision tower's class token, on the class-token path.

Two cases, once the layer is chosen (see `camlens.model.class_token`):

- CLIP's prompts: an explainer's first call on a CLIP backbone chooses its layer
  on the whole image side; later calls run on the side's `ClassTokenSide`.
- A headless DINOv2 compared by its class token: calls whose targets are all
  `Similarity(..., pooling="class")` run on its `ClassTokenBackbone`.

Either way the layer must be a block before the last, and the method must read
nothing but that layer's activations and gradients. Before the first such call
on a model, and again after the model changes, the cheaper model's output is
compared with the whole one's on one of the images (for CLIP with seeded random
text embeddings); if they differ, the whole model is kept.
"""

from __future__ import annotations

import threading
import weakref

import keras
import numpy as np

from ..model.class_token import class_token_backbone
from ..model.image_text import IMAGES, TEXT, class_token_side
from ..model.slots import as_model_inputs
from ..model.state import generation
from ..targets import Similarity
from .layer_runs import reads_layer_only
from .target_data import with_target_data

_verdicts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # cut -> (generation, agrees)
_lock = threading.Lock()
_TOLERANCE = 1e-4
"""Largest difference of the two models' outputs, relative to their size (float32)."""


def class_token_part(explainer, prepared, targets):
    """`(variant, targets)`: a variant of `explainer` on the class-token path and
    the targets to give it; `None` where the path does not apply (another model
    or target, a method that reads more, the layer not yet chosen or not a
    block before the last)."""
    if explainer.parts is not None or explainer.output_index != 0:
        return None
    if not reads_layer_only(explainer):
        return None
    towers = explainer.towers
    if towers is not None:
        if explainer.model is not towers.side:
            return None
        whole, cut = towers.side, class_token_side(towers.side)
    elif _class_token_similarities(targets):
        whole, cut = explainer.model, class_token_backbone(explainer.model)
    else:
        return None
    if cut is None:
        return None
    layer = explainer.layer  # neither model is a classifier: asking chooses nothing
    if layer is None or not any(layer is block for block in cut.class_token.blocks):
        return None
    if towers is None:  # a reference image's embedding, on the whole model
        prepared, targets = with_target_data(explainer, as_model_inputs(prepared), targets)
    if not _agrees(whole, cut, as_model_inputs(prepared).image, towers is not None):
        return None
    part = explainer.variant(layer=layer)
    part.model = cut
    return part, targets


def _class_token_similarities(targets) -> bool:
    """Whether every target compares the class token of the model's only output."""
    items = targets if isinstance(targets, list) else [targets]
    return all(
        isinstance(item, Similarity) and item.pooling == "class" and item.output is None
        for item in items
    )


def _agrees(whole: keras.Model, cut: keras.Model, images: np.ndarray, prompts: bool) -> bool:
    current = generation(whole)
    with _lock:
        verdict = _verdicts.get(cut)
    if verdict is not None and verdict[0] == current:
        return verdict[1]
    inputs = {IMAGES: images[:1]}
    if prompts:
        width = int(cut.class_token.projection.units)
        inputs[TEXT] = np.random.default_rng(0).standard_normal((2, width)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(whole(inputs, training=False))
    given = keras.ops.convert_to_numpy(cut(inputs, training=False))
    scale = max(1.0, float(np.abs(expected).max()))
    agrees = bool(np.abs(given - expected).max() <= _TOLERANCE * scale)
    with _lock:
        _verdicts[cut] = (current, agrees)
    return agrees
