"""Targets checked against a model's outputs and planned for the probe.

`plan_targets` checks what the user passed as `targets` (see `camlens.targets`)
against the model's outputs and returns a `TargetPlan` (`camlens.probe.plan`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..checks import is_integer
from ..model.inspection import OutputInfo
from ..probe.plan import CALLABLE, COSINE, ID, REGION, SIMILAR, TOP, Slot, TargetPlan
from ..targets import Class, Output, Prompt, Region, Similarity


def plan_targets(targets, outputs: Sequence[OutputInfo], count: int) -> TargetPlan:
    """The plan of `targets` for `count` images of a model with `outputs`.

    Args:
        targets: `None` (each image's top prediction), a class id, a target
            object (`Class`, `Region`, `Output`), a callable, a list of those
            (one map each, in order), or an int array (N,) / (N, K) of class ids
            per image.
        outputs: the model's outputs, flattened in `keras.tree` order.
        count: N, the number of images.

        A `TargetPlan` already made (a detector's, `camlens.api.detection`) is
        returned as it is.

    Raises:
        TypeError, ValueError: naming `targets`, for anything that does not fit.
    """
    if isinstance(targets, TargetPlan):
        return targets
    if isinstance(targets, np.ndarray) and targets.ndim > 0:
        return _per_image(targets, outputs, count)
    if targets is None:
        items = [None]
    elif isinstance(targets, list):
        items = targets
    elif _is_target(targets):
        items = [targets]
    else:
        raise TypeError(
            "targets must be None, a class id (int), a target object (Class, Region, "
            "Output), a callable, a list of them, or an int array (N,) or (N, K) of "
            f"class ids per image. Received: targets={targets!r} of type "
            f"{type(targets).__name__}"
        )
    if not items:
        raise ValueError("targets must not be an empty list. Received: targets=[]")
    slots, ids, masks, callables = [], [], [], []
    for item in items:
        if isinstance(item, Similarity):
            slot, mask, function, class_id = similarity_slot(item, outputs, count, targets)
        else:
            slot, class_id, mask, function = _slot(item, outputs, targets)
            mask = None if mask is None else np.broadcast_to(mask, (count,) + mask.shape)
        slots.append(slot)
        ids.append(class_id)
        masks.append(mask)
        callables.append(function)
    return TargetPlan(
        slots=tuple(slots),
        ids=np.broadcast_to(np.asarray(ids, np.int32), (count, len(ids))).copy(),
        masks=tuple(None if m is None else m.astype(np.float32) for m in masks),
        callables=tuple(callables),
    )


def with_comparisons(plan: TargetPlan, method, outputs: Sequence[OutputInfo]) -> TargetPlan:
    """The plan with, after its slots, the classes each target is compared with
    (`method.comparisons` of the classes most similar to it: Finer-CAM)."""
    if not method.comparisons:
        return plan
    by_class = all(slot.kind in (TOP, ID) and slot.output is None for slot in plan.slots)
    classes = outputs[0].shape[-1] if by_class and len(outputs[0].shape) == 1 else None
    if classes is None or classes < 2:
        raise ValueError(
            f"{method.title} compares a class's score with those of the most similar "
            "classes: it needs class ids as targets and a model with a (batch, classes) "
            f"output of at least 2 classes. Received: targets {plan.slots}, "
            f"{classes} classes"
        )
    ranks = range(min(method.comparisons, classes - 1))
    return plan.extended(
        tuple(
            Slot(SIMILAR, of=slot, rank=rank) for slot in range(len(plan.slots)) for rank in ranks
        )
    )


def check_class_ids(plan: TargetPlan) -> None:
    """smooth='aug' explains flipped images: only class ids can be carried over."""
    if not all(slot.kind in (TOP, ID, SIMILAR) and slot.output is None for slot in plan.slots):
        raise ValueError(
            "smooth='aug' explains each flipped and rescaled image for the image's "
            "own classes, so it needs class-id targets (None, ids, Class). "
            f"Received: targets {plan.slots}"
        )


def target_of(requested, class_id: int):
    """What `TargetExplanation.target` holds: a class id, or the target object or callable."""
    if requested is None or is_integer(requested):
        return class_id
    if isinstance(requested, Class):
        return requested.class_id
    return requested


def _slot(item, outputs: Sequence[OutputInfo], targets):
    """`(slot, class_id, mask, callable)` of one target, checked against `outputs`."""
    output_index = None
    if isinstance(item, Output):
        output_index = _output_index(item.output, outputs, targets)
        item = item.target
    elif len(outputs) > 1 and not callable(item):
        names = [info.name for info in outputs]
        raise ValueError(
            f"The model has {len(outputs)} outputs ({names}); say which one a target "
            "is for with camlens.targets.Output(name_or_index, target), or pass a "
            f"callable given all outputs. Received: targets={targets!r}"
        )
    if isinstance(item, Prompt):
        raise ValueError(
            "Prompt targets explain a keras-hub image–text backbone (CLIPBackbone, "
            "SigLIPBackbone, MetaCLIP2Backbone), passed with its images alone; this "
            "model is not one. For another model with a text input, pass the token ids "
            "with constant_inputs= and explain its logits with Output(name, prompt "
            f"index). Received: targets={targets!r}"
        )
    info = outputs[0 if output_index is None else output_index]
    if len(outputs) == 1:
        output_index = None  # the only output: class ids may read its logits
    if callable(item) and not isinstance(item, (Class, Region)):
        return Slot(CALLABLE, output_index), 0, None, item
    if isinstance(item, Region):
        mask = _region_mask(item, info, targets)
        slot = Slot(REGION, output_index, mask is not None, reduce=item.reduce)
        return slot, item.class_id or 0, mask, None
    _check_classifier(info, item, targets)
    if item is None:
        return Slot(TOP, output_index), 0, None, None
    if not (is_integer(item) or isinstance(item, Class)):
        raise TypeError(
            "each target must be a class id (int), a target object (Class, Region, "
            f"Output) or a callable. Received: {item!r} of type {type(item).__name__} "
            f"in targets={targets!r}"
        )
    class_id = item.class_id if isinstance(item, Class) else int(item)
    _check_range(class_id, info.shape[-1], targets)
    return Slot(ID, output_index), class_id, None, None


def similarity_slot(item: Similarity, outputs: Sequence[OutputInfo], count: int, targets):
    """`(slot, references (N, dim), None, 0)` of a `Similarity` with reference vectors."""
    index = None if item.output is None else _output_index(item.output, outputs, targets)
    if index is None and len(outputs) > 1:
        names = [info.name for info in outputs]
        raise ValueError(
            f"The model has {len(outputs)} outputs ({names}); say which one holds the "
            f"embedding with Similarity(reference, output=name_or_index). Received: "
            f"targets={targets!r}"
        )
    shape = outputs[0 if index is None else index].shape
    if len(shape) not in (1, 2):
        raise ValueError(
            "Similarity compares an embedding: it needs an output (batch, dim) or "
            f"tokens (batch, tokens, dim); this output is (batch, {', '.join(map(str, shape))}). "
            f"Received: targets={targets!r}"
        )
    dim = shape[-1]
    reference = item.reference.astype(np.float32)
    if reference.ndim == 1:
        reference = np.broadcast_to(reference, (count, len(reference)))
    if reference.shape[-1] != dim or len(reference) != count:
        raise ValueError(
            f"Similarity(reference) must be a vector of the embedding's length ({dim},) "
            f"or one per image ({count}, {dim}). Received: reference of shape "
            f"{item.reference.shape}"
        )
    pool = None if len(shape) == 1 else item.pooling
    first = (item.first_patch or 0) if pool == "mean" else 0
    output_index = None if len(outputs) == 1 else index
    return Slot(COSINE, output_index, pool=pool, first=first), reference, None, 0


def _per_image(targets: np.ndarray, outputs: Sequence[OutputInfo], count: int) -> TargetPlan:
    if targets.dtype == bool or not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(
            "targets as an array must hold integer class ids, shape (N,) or (N, K). "
            f"Received: targets.dtype={targets.dtype}"
        )
    if targets.ndim not in (1, 2) or targets.shape[0] != count or targets.size == 0:
        raise ValueError(
            f"targets as an array must have one row per image: shape ({count},) or "
            f"({count}, K) for {count} images. Received: targets.shape={targets.shape}"
        )
    if len(outputs) > 1:
        raise ValueError(
            f"The model has {len(outputs)} outputs; class ids per image need a model "
            "with one (batch, classes) output. Use a list of camlens.targets.Output "
            f"targets instead. Received: targets of shape {targets.shape}"
        )
    ids = targets.reshape(count, -1)
    _check_classifier(outputs[0], int(ids.flat[0]), targets)
    classes = outputs[0].shape[-1]
    bad = (ids < 0) | (ids >= classes)
    if bad.any():
        raise ValueError(
            f"targets holds class ids out of range: the model has {classes} classes, "
            f"valid ids are 0 to {classes - 1}. Received: targets with "
            f"{ids[bad][0]} at row {int(np.argwhere(bad)[0][0])}"
        )
    width = ids.shape[1]
    return TargetPlan(
        slots=(Slot(ID),) * width,
        ids=ids.astype(np.int32),
        masks=(None,) * width,
        callables=(None,) * width,
    )


def _output_index(output, outputs: Sequence[OutputInfo], targets) -> int:
    names = [info.name for info in outputs]
    if isinstance(output, str):
        if output not in names:
            raise ValueError(
                f"Output {output!r} is not an output of the model; its outputs are "
                f"{names}. Received: targets={targets!r}"
            )
        return names.index(output)
    if not 0 <= output < len(outputs):
        raise ValueError(
            f"Output index {output} is out of range: the model has {len(outputs)} "
            f"outputs ({names}). Received: targets={targets!r}"
        )
    return output


def _check_classifier(info: OutputInfo, item, targets) -> None:
    if len(info.shape) != 1:
        what = "the top prediction" if item is None else "class ids"
        hint = (
            " For a segmentation output use camlens.targets.Region(class_id)."
            if len(info.shape) >= 3
            else " Pass a callable mapping the output to one score per image instead."
        )
        raise ValueError(
            f"Targets as {what} need an output of shape (batch, classes); this one is "
            f"(batch, {', '.join(map(str, info.shape))}).{hint} Received: targets={targets!r}"
        )


def _region_mask(region: Region, info: OutputInfo, targets) -> np.ndarray | None:
    """The region's mask, checked against the output: the whole map for a
    regression map's region without one, `None` for a class's predicted pixels."""
    if len(info.shape) < 2:
        raise ValueError(
            "Region targets need a segmentation output or a regression map, a dense "
            "output (batch, ..., channels); this output is "
            f"(batch, {', '.join(map(str, info.shape))}), a classifier's or an "
            f"embedding's. Use a class id or a callable. Received: targets={targets!r}"
        )
    channels = info.shape[-1]
    if region.class_id is None and channels != 1:
        raise ValueError(
            "Region without a class_id reads a one-channel regression map (depth, "
            f"density); this output has {channels} channels (shape (batch, "
            f"{', '.join(map(str, info.shape))})): pass the channel or class to read, "
            f"Region(class_id, mask=...). Received: targets={targets!r}"
        )
    if region.class_id is not None:
        _check_range(region.class_id, channels, targets)
    spatial = tuple(info.shape[:-1])
    if region.mask is not None and region.mask.shape != spatial:
        raise ValueError(
            f"Region(mask) must have the output's spatial shape {spatial}. "
            f"Received: mask.shape={region.mask.shape}"
        )
    if region.mask is None and region.class_id is None:
        if any(size is None for size in spatial):
            raise ValueError(
                "Region without a mask or class_id covers the whole output, whose "
                f"spatial shape {spatial} is not known: pass mask=. Received: "
                f"targets={targets!r}"
            )
        return np.ones(spatial, bool)
    return region.mask


def _check_range(class_id: int, classes, targets) -> None:
    if classes is not None and not 0 <= class_id < classes:
        raise ValueError(
            f"target {class_id} is out of range: the model has {classes} classes, "
            f"valid ids are 0 to {classes - 1}. Received: targets={targets!r}"
        )


def _is_target(value) -> bool:
    return (
        is_integer(value)
        or callable(value)
        or isinstance(value, (Class, Region, Output, Prompt, Similarity))
    )
