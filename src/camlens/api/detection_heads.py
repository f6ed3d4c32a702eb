"""RetinaNet's gradient pass from its pyramid levels: the classification head alone.

A RetinaNet's class logits at one pyramid level are its classification head
applied to that level's feature map, and depend on nothing else. So
`explain_detections` runs its first pass on a model that also returns every
level (`HeadCut.first_pass`), and the map of a detection made at level L is
taken on the head alone (`maps_on_head`): a model from the level's feature map
(an identity layer, the layer explained) to that level's class logits, run on
the level's values from the first pass. Its activations are the level's values
and its gradients those of the same logit, as the whole model's pass gives
them; the backbone, the box head and the other levels do not run again.

Methods that read nothing but the layer's activations and the gradients (or
second derivatives) there take this route; those that run the model on other
inputs (Score-CAM's masked images, the input gradients of Guided Grad-CAM and
FullGrad, augmentations) and callable targets (a `Box` scored by IoU and
confidence, read on the boxes too) keep the whole model's pass, as do methods
registered by the user (`MethodInputs.images` would be the level's values).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

import keras
import numpy as np

from ..model.channels import is_channels_first
from ..model.detectors import Detector, Level
from ..model.keras_internals import call_outputs
from ..model.state import generation
from ..probe import probe_for
from ..probe.plan import DETECTION, Slot, TargetPlan
from .detection_crops import maps_on_crops, radius
from .layer_runs import reads_layer_only
from .results import Maps

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # detector -> (generation, cut)
_lock = threading.Lock()


@dataclass
class HeadCut:
    """A RetinaNet cut at its pyramid levels.

    Attributes:
        model: the detector.
        levels_model: the detector's input to `[its outputs, [every level]]`,
            the levels in the order of `Level.output_index`.
        heads: by level name, `(head, identity)`: the level's feature map to
            its class logits (N, rows of the level, classes), and the identity
            layer the map is read at.
        crops: by level name and crop size, `(head, identity)` the same on
            crops of the level (`api.detection_crops`).
    """

    model: keras.Model
    levels_model: keras.Model
    heads: dict = field(default_factory=dict)
    crops: dict = field(default_factory=dict)

    def first_pass(self, images: np.ndarray):
        """`(outputs, levels)`: the detector's outputs as it returns them, and
        every level's values, (N, h, w, C) each, from one compiled forward pass."""
        outputs, levels = probe_for(self.levels_model, self.levels_model).outputs(images)
        return outputs, levels

    def head(self, name: str):
        """`(head, identity)` of the level `name` (see `heads`), built once."""
        return self._built(name)[:2]

    def reach(self, name: str) -> tuple | None:
        """How far the class logits of level `name` read around their position
        (`api.detection_crops.radius`), `None` for a head of another structure."""
        return self._built(name)[3]

    def crop_head(self, name: str, size: tuple):
        """`(head, identity)` of level `name` on its crops of `size` (see `crops`)."""
        cut = self._built(name)[2]
        with _lock:
            found = self.crops.get((name, size))
            if found is None:
                channels = cut.inputs[0].shape[-1]
                crop = keras.Input((*size, channels), name=f"{name}_crop")
                identity = keras.layers.Identity(name=f"level_{name}")
                head, rows = cut.layers[1:]  # the structure `reach` checked
                model = keras.Model(crop, rows(head(identity(crop))), name=f"crop_head_{name}")
                found = self.crops[name, size] = (model, identity)
        return found

    def _built(self, name: str) -> tuple:
        """`(head, identity, cut, reach)` of level `name`, `cut` its feature map to its
        class logits in the detector's graph."""
        with _lock:
            found = self.heads.get(name)
            if found is None:
                tensors = call_outputs(self.model.backbone)
                index = sorted(self.model.backbone.output).index(name)
                logits = self.model.get_layer(f"cls_pred_{name}").output
                cut = keras.Model(tensors[index], logits, name=f"classification_head_{name}")
                level = keras.Input(tuple(tensors[index].shape[1:]), name=name)
                identity = keras.layers.Identity(name=f"level_{name}")
                head = keras.Model(level, cut(identity(level)), name=f"head_{name}")
                found = self.heads[name] = (head, identity, cut, radius(cut))
        return found


def cut_for(model, detector: Detector) -> HeadCut | None:
    """The detector's `HeadCut`, `None` for a detector other than keras-hub's
    RetinaNet (or one whose graph does not cut at its levels, or channels first:
    its levels would be fed to the head as images are, moved to its layout)."""
    if detector.family != "RetinaNet" or is_channels_first(model):
        return None
    current = generation(model)
    with _lock:
        cached = _cache.get(model)
        if cached is not None and cached[0] == current:
            return cached[1]
    tensors = call_outputs(getattr(model, "backbone", None))
    if not tensors:
        return None
    try:
        levels_model = keras.Model(model.input, [model.output, tensors])
        for name in model.backbone.output:
            model.get_layer(f"cls_pred_{name}")
    except ValueError:  # not the graph keras-hub builds: the whole model's pass
        return None
    cut = HeadCut(model, levels_model)
    with _lock:
        _cache[model] = (current, cut)
    return cut


def fits(explainer, plan: TargetPlan) -> bool:
    """Whether the explainer's method and the targets of `plan` take the head's route."""
    return reads_layer_only(explainer) and all(slot.kind == DETECTION for slot in plan.slots)


def maps_on_head(explainer, cut: HeadCut, level: Level, values, plan: TargetPlan, pad_to) -> Maps:
    """The maps of `plan` at `level`, on its head alone, from the level's `values`
    (N, h, w, C). A detection of another level reads a row of this one instead:
    its map is not kept (`api.detection`)."""
    assert level.rows is not None, "a RetinaNet level has its rows"
    head, identity = cut.head(level.name)
    start, stop = level.rows
    masks = [np.clip(rows - start, 0, stop - start - 1).astype(np.int32) for rows in plan.masks]
    local = TargetPlan(
        slots=tuple(Slot(DETECTION, 0) for _ in plan.slots),
        ids=plan.ids,
        masks=tuple(masks),
        callables=plan.callables,
    )
    part = explainer.variant(layer=identity, output_index=0, warns_blank=False)
    part.model, part.detection_head = head, None
    values = np.asarray(values, np.float32)
    cropped = maps_on_crops(part, cut, level, values, local, plan.masks)
    return part.explain_prepared(values, local, pad_to) if cropped is None else cropped
