"""Prompts on CLIP through the class-token path, once the layer is chosen.

An explainer's first call on a CLIP backbone chooses its layer on the whole
image side. Later calls whose layer is a vision block before the last, and whose
method reads nothing but that layer's activations and gradients, run on the
side's `ClassTokenSide`: the same maps, with the last block run for the class
token alone (see `camlens.model.class_token`). Before the first such call on a
model, and again after the model changes, the two sides' logits are compared on
one of the images with seeded random text embeddings; if they differ, the whole
side is kept.
"""

from __future__ import annotations

import threading
import weakref

import keras
import numpy as np

from ..model.image_text import IMAGES, TEXT, ClassTokenSide, ImageSide, class_token_side
from ..model.state import generation
from .layer_runs import reads_layer_only

_verdicts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # side -> (generation, agrees)
_lock = threading.Lock()
_TOLERANCE = 1e-4
"""Largest difference of the two sides' logits, relative to their size (float32)."""


def class_token_part(explainer, prepared):
    """A variant of `explainer` on the class-token side, or `None` where it does
    not apply (another model, a method that reads more, the layer not yet chosen
    or not a block before the last)."""
    towers = explainer.towers
    if towers is None or explainer.model is not towers.side or explainer.parts is not None:
        return None
    layer = explainer.layer  # the side has two inputs: asking chooses nothing
    if layer is None or explainer.output_index != 0 or not reads_layer_only(explainer):
        return None
    side = class_token_side(towers.side)
    if side is None or not any(layer is block for block in side.class_token.blocks):
        return None
    if not _agrees(towers.side, side, prepared.image):
        return None
    part = explainer.variant(layer=layer)
    part.model = side
    return part


def _agrees(whole: ImageSide, cut: ClassTokenSide, images: np.ndarray) -> bool:
    current = generation(whole)
    with _lock:
        verdict = _verdicts.get(cut)
    if verdict is not None and verdict[0] == current:
        return verdict[1]
    width = int(cut.class_token.projection.units)
    text = np.random.default_rng(0).standard_normal((2, width)).astype(np.float32)
    inputs = {IMAGES: images[:1], TEXT: text}
    expected = keras.ops.convert_to_numpy(whole(inputs, training=False))
    given = keras.ops.convert_to_numpy(cut(inputs, training=False))
    scale = max(1.0, float(np.abs(expected).max()))
    agrees = bool(np.abs(given - expected).max() <= _TOLERANCE * scale)
    with _lock:
        _verdicts[cut] = (current, agrees)
    return agrees
