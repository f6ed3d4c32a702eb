"""What a map explains: target objects, and the plan that turns targets into scores.

Every target turns the model's output into one score per image:

- a class id, or `Class(k)`: the score of class k of a (batch, classes) output
  (softmax, or sigmoid for multi-label and binary heads);
- `Region(k, mask)`: the sum of class k's score over pixels of a segmentation
  output (batch, ..., classes);
- `Output(name_or_index, target)`: a target on one output of a multi-output model;
- a callable: maps the model's output to (N,) scores itself.

`plan_targets` checks what the user passed against the model's outputs and
returns a `TargetPlan`: one data-free `Slot` per target, which is what the
compiled probe is keyed by (new class ids, masks or lambdas cost no new trace),
and the data of this call (class ids per image, masks, callables).
`slot_scores` computes the scores with `keras.ops`, inside every backend's trace.

For a one-unit sigmoid head (binary classification), class 0 is the positive
class; `counterfactual=True` then maps the negative class (what speaks against
the positive one).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import keras
import numpy as np

from .integers import is_integer

TOP = "top"
"""A slot explaining each image's top prediction."""

ID = "id"
"""A slot explaining a class id given per image at call time."""

REGION = "region"
"""A slot summing one class's score over a region of a segmentation output."""

CALLABLE = "callable"
"""A slot whose score a callable computes; its gradient enters as a cotangent."""

SIMILAR = "similar"
"""A slot for the class ranked `rank` (0 = highest) by the model's output, leaving
out the class explained by slot `of`: the classes most similar to a target, by
the model's own prediction (Finer-CAM's comparison classes)."""


class Class:
    """The score of class `class_id`: the same as passing the int.

    Args:
        class_id: an index into the class axis of a (batch, classes) output.

    Example:
        >>> camlens.Explainer(model)(images, targets=[Class(3), Region(1)])
    """

    def __init__(self, class_id):
        self.class_id = _class_id(class_id, "Class(class_id)")

    @property
    def name(self) -> str:
        return f"class {self.class_id}"

    def __repr__(self) -> str:
        return f"Class({self.class_id})"


class Region:
    """The sum of class `class_id`'s score over a region of a segmentation output.

    Segmentation Grad-CAM (Vinogradova et al. 2020): for an output
    (batch, H', W', classes), the score is the class's output summed over the
    pixels of `mask`.

    Args:
        class_id: the class whose output is summed.
        mask: (H', W') bool, True on the pixels to explain; `None` takes, per
            image, the pixels predicted as `class_id` (the output's argmax).
    """

    def __init__(self, class_id, mask=None):
        self.class_id = _class_id(class_id, "Region(class_id)")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != bool:
                raise TypeError(
                    "Region(mask) must be a boolean array of the output's spatial "
                    f"shape, or None. Received: mask.dtype={mask.dtype}"
                )
            if not mask.any():
                raise ValueError(
                    "Region(mask) selects no pixel: the score would be 0 everywhere. "
                    f"Received: mask of shape {mask.shape}, all False"
                )
        self.mask = mask

    @property
    def name(self) -> str:
        where = "predicted pixels" if self.mask is None else f"{int(self.mask.sum())} pixels"
        return f"class {self.class_id} over {where}"

    def __repr__(self) -> str:
        mask = "None" if self.mask is None else f"<{self.mask.shape} mask>"
        return f"Region({self.class_id}, mask={mask})"


class Output:
    """A target on one output of a model with several outputs.

    Args:
        output: the output's name (a key of a dict output, or an output layer's
            name) or its index in the model's outputs.
        target: what to explain on that output: `None` (the top prediction), a
            class id, `Class`, `Region`, or a callable given that output alone.

    Example:
        >>> explainer(images, targets=[Output("species", 2), Output("age")])
    """

    def __init__(self, output, target=None):
        if isinstance(output, bool) or not isinstance(output, (str, numbers.Integral)):
            raise TypeError(
                "Output(output) must be an output's name (str) or index (int). "
                f"Received: output={output!r} of type {type(output).__name__}"
            )
        if isinstance(target, Output):
            raise TypeError(f"Output(target) cannot be another Output. Received: target={target!r}")
        if not (target is None or is_integer(target) or callable(target)
                or isinstance(target, (Class, Region))):
            raise TypeError(
                "Output(target) must be None, a class id, Class, Region or a callable. "
                f"Received: target={target!r} of type {type(target).__name__}"
            )
        self.output = output if isinstance(output, str) else int(output)
        self.target = target

    @property
    def name(self) -> str:
        inner = "top prediction" if self.target is None else getattr(
            self.target, "name", f"class {self.target}" if is_integer(self.target) else "callable"
        )
        return f"{inner} of output {self.output!r}"

    def __repr__(self) -> str:
        return f"Output({self.output!r}, {self.target!r})"


@dataclass(frozen=True)
class OutputInfo:
    """One of the model's outputs: its name (or `None`) and shape without the batch axis."""

    name: str | None
    shape: tuple


@dataclass(frozen=True)
class Slot:
    """The data-free description of one target, what compiled functions are keyed by.

    Attributes:
        kind: `TOP`, `ID`, `REGION`, `CALLABLE` or `SIMILAR`.
        output: index into the flattened outputs, `None` for the model's only
            output (or, for a callable, all of its outputs).
        masked: for `REGION`, whether a mask is given (else the predicted pixels).
        of, rank: for `SIMILAR`, the slot compared with and the class's rank.
    """

    kind: str
    output: int | None = None
    masked: bool = False
    of: int | None = None
    rank: int = 0


@dataclass
class TargetPlan:
    """The targets of one call on N images, K slots.

    Attributes:
        slots: (K,) `Slot`s.
        ids: (N, K) int32 class ids, read by `ID` and `REGION` slots.
        masks: per slot, (N, *spatial) float32 for masked `REGION` slots, else `None`.
        callables: per slot, the callable of a `CALLABLE` slot, else `None`.
    """

    slots: tuple
    ids: np.ndarray
    masks: tuple
    callables: tuple

    def rows(self, index) -> TargetPlan:
        """The plan for the images `index` (a slice or an index array)."""
        return replace(
            self,
            ids=self.ids[index],
            masks=tuple(None if m is None else m[index] for m in self.masks),
        )

    def extended(self, slots: tuple) -> TargetPlan:
        """The plan with `slots` (that read no ids, masks or callables) appended."""
        count, extra = len(self.ids), len(slots)
        return replace(
            self,
            slots=self.slots + tuple(slots),
            ids=np.concatenate([self.ids, np.zeros((count, extra), np.int32)], axis=1),
            masks=self.masks + (None,) * extra,
            callables=self.callables + (None,) * extra,
        )

    def padded(self, count: int) -> TargetPlan:
        """The plan for `count` >= N images, the last image's row repeated."""
        return self.rows(np.minimum(np.arange(count), len(self.ids) - 1))

    def for_variants(self, n: int, explained: np.ndarray, outputs, count: int) -> TargetPlan:
        """The plan for `count` variants of image n (Score-CAM's masked images).

        Each variant is scored for what image n explained: the top prediction
        becomes its class id, and a region of predicted pixels the region
        predicted on image n itself.

        Args:
            explained: (K,) the class ids explained for image n.
            outputs: the model's outputs for the batch, as numpy.
        """
        slots, masks = list(self.slots), list(self.masks)
        flat = keras.tree.flatten(outputs)
        for k, slot in enumerate(self.slots):
            if slot.kind == TOP:
                slots[k] = replace(slot, kind=ID)
            elif slot.kind == REGION and not slot.masked:
                output = flat[0 if slot.output is None else slot.output][n]
                predicted = np.argmax(output, axis=-1) == explained[k]
                masks[k] = np.broadcast_to(predicted, (len(self.ids),) + predicted.shape)
                slots[k] = replace(slot, masked=True)
        ids = np.where(explained >= 0, explained, 0).astype(np.int32)
        plan = replace(self, slots=tuple(slots), ids=np.broadcast_to(ids, self.ids.shape).copy(),
                       masks=tuple(None if m is None else m.astype(np.float32) for m in masks))
        return plan.rows(np.full(count, n))


def plan_targets(targets, outputs: Sequence[OutputInfo], count: int) -> TargetPlan:
    """The plan of `targets` for `count` images of a model with `outputs`.

    Args:
        targets: `None` (each image's top prediction), a class id, a target
            object (`Class`, `Region`, `Output`), a callable, a list of those
            (one map each, in order), or an int array (N,) / (N, K) of class ids
            per image.
        outputs: the model's outputs, flattened in `keras.tree` order.
        count: N, the number of images.

    Raises:
        TypeError, ValueError: naming `targets`, for anything that does not fit.
    """
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
        slot, class_id, mask, function = _slot(item, outputs, targets)
        slots.append(slot)
        ids.append(class_id)
        masks.append(None if mask is None else np.broadcast_to(mask, (count,) + mask.shape))
        callables.append(function)
    return TargetPlan(
        slots=tuple(slots),
        ids=np.broadcast_to(np.asarray(ids, np.int32), (count, len(ids))).copy(),
        masks=tuple(None if m is None else m.astype(np.float32) for m in masks),
        callables=tuple(callables),
    )


def target_of(requested, class_id: int):
    """What `TargetExplanation.target` holds: a class id, or the target object or callable."""
    if requested is None or is_integer(requested):
        return class_id
    if isinstance(requested, Class):
        return requested.class_id
    return requested


def slot_scores(slots: tuple, classes, outputs, ids, extras: tuple):
    """Scores (N, K) float32 and explained class ids (N, K) int32 per slot.

    Written with `keras.ops`, so it runs inside every backend's trace.

    Args:
        slots: (K,) `Slot`s.
        classes: what class ids index on a single-output model: the output, or
            the scores before its last activation (`score="logit"`).
        outputs: the model's outputs.
        ids: (N, K) int32 class ids.
        extras: per slot, the (N, *spatial) mask of a masked region, the
            cotangent of a callable's score with respect to its output (the
            slot's score is then the linearisation whose gradient is the
            callable's; the value comes from the callable itself), or `None`.
    """
    ops = keras.ops
    flat = keras.tree.flatten(outputs)
    columns, explained = [], []
    for k, slot in enumerate(slots):
        output = outputs if slot.output is None else flat[slot.output]
        table = classes if slot.output is None else output
        if slot.kind == CALLABLE:
            column = _linearized(output, extras[k])
            index = ops.full_like(column, -1, dtype="int32")
        elif slot.kind == REGION:
            index = ids[:, k]
            column = _region_score(ops.cast(table, "float32"), output, index, extras[k])
        else:
            if slot.kind == SIMILAR:
                index = _similar_class(output, explained[slot.of], slot.rank)
            elif slot.kind == ID:
                index = ids[:, k]
            else:
                index = ops.cast(ops.argmax(output, axis=-1), "int32")
            scores = ops.cast(table, "float32")
            column = ops.sum(scores * ops.one_hot(index, ops.shape(scores)[-1]), axis=-1)
        columns.append(ops.cast(column, "float32"))
        explained.append(ops.cast(index, "int32"))
    return ops.stack(columns, axis=1), ops.stack(explained, axis=1)


def _similar_class(table, excluded, rank: int):
    """(N,) the class ranked `rank` in each row of `table` (N, classes), `excluded` left out."""
    ops = keras.ops
    left_out = ops.one_hot(excluded, ops.shape(table)[1], dtype="bool")
    lowest = ops.min(table) - 1
    _, indices = ops.top_k(ops.where(left_out, lowest, table), rank + 1)
    return ops.cast(indices[:, rank], "int32")


def _region_score(scores, output, index, mask):
    """sum over the region of scores[..., index]: scores (N, ..., C), index (N,)."""
    ops = keras.ops
    rank = len(scores.shape)
    pick = ops.one_hot(index, scores.shape[-1], dtype="float32")
    channel = ops.sum(scores * ops.reshape(pick, (-1,) + (1,) * (rank - 2) + (scores.shape[-1],)), -1)
    if mask is None:
        predicted = ops.argmax(output, axis=-1)
        mask = ops.cast(ops.equal(predicted, ops.reshape(ops.cast(index, predicted.dtype),
                                                         (-1,) + (1,) * (rank - 2))), "float32")
    return ops.sum(channel * ops.cast(mask, "float32"), axis=tuple(range(1, rank - 1)))


def _linearized(output, cotangent):
    """sum(output * cotangent) per image: its gradient is the callable score's."""
    ops = keras.ops
    leaves = keras.tree.flatten(output)
    if cotangent is None:  # a forward pass only: the value comes from the callable
        return ops.zeros((ops.shape(leaves[0])[0],), "float32")
    total = 0.0
    for leaf, weight in zip(leaves, keras.tree.flatten(cotangent)):
        product = ops.cast(leaf, "float32") * ops.cast(weight, "float32")
        total = total + ops.sum(ops.reshape(product, (ops.shape(product)[0], -1)), axis=1)
    return total


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
    info = outputs[0 if output_index is None else output_index]
    if len(outputs) == 1:
        output_index = None  # the only output: class ids may read its logits
    if callable(item) and not isinstance(item, (Class, Region)):
        return Slot(CALLABLE, output_index), 0, None, item
    if isinstance(item, Region):
        return (Slot(REGION, output_index, item.mask is not None), item.class_id,
                _region_mask(item, info, targets), None)
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
        hint = (" For a segmentation output use camlens.targets.Region(class_id)."
                if len(info.shape) >= 3 else " Pass a callable mapping the output to one "
                "score per image instead.")
        raise ValueError(
            f"Targets as {what} need an output of shape (batch, classes); this one is "
            f"(batch, {', '.join(map(str, info.shape))}).{hint} Received: targets={targets!r}"
        )


def _region_mask(region: Region, info: OutputInfo, targets) -> np.ndarray | None:
    if len(info.shape) < 2:
        raise ValueError(
            "Region targets need a segmentation output (batch, ..., classes); this "
            f"output is (batch, {', '.join(map(str, info.shape))}), a classifier's. "
            f"Use a class id. Received: targets={targets!r}"
        )
    _check_range(region.class_id, info.shape[-1], targets)
    spatial = tuple(info.shape[:-1])
    if region.mask is not None and region.mask.shape != spatial:
        raise ValueError(
            f"Region(mask) must have the output's spatial shape {spatial}. "
            f"Received: mask.shape={region.mask.shape}"
        )
    return region.mask


def _check_range(class_id: int, classes, targets) -> None:
    if classes is not None and not 0 <= class_id < classes:
        raise ValueError(
            f"target {class_id} is out of range: the model has {classes} classes, "
            f"valid ids are 0 to {classes - 1}. Received: targets={targets!r}"
        )


def _class_id(value, argument: str) -> int:
    if not is_integer(value):
        raise TypeError(
            f"{argument} must be a class id (int). Received: {value!r} of type "
            f"{type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"{argument} must be >= 0. Received: {value!r}")
    return int(value)


def _is_target(value) -> bool:
    return is_integer(value) or callable(value) or isinstance(value, (Class, Region, Output))
