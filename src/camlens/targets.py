"""What a map explains: the target objects users pass as `targets`.

Every target turns the model's output into one score per image:

- a class id, or `Class(k)`: the score of class k of a (batch, classes) output
  (softmax, or sigmoid for multi-label and binary heads);
- `Region(k, mask)`: the sum of class k's score over pixels of a segmentation
  output (batch, ..., classes);
- `Output(name_or_index, target)`: a target on one output of a multi-output model;
- a callable: maps the model's output to (N,) scores itself.

For a one-unit sigmoid head (binary classification), class 0 is the positive
class; `counterfactual=True` then maps the negative class (what speaks against
the positive one). How targets become scores: `camlens.api.planning` checks them
against the model's outputs and plans them, `camlens.probe.scores` computes the
scores inside the backend's compiled function.
"""

from __future__ import annotations

import numbers

import numpy as np

from .checks import BOX_FORMATS, check_box_format, is_integer

__all__ = ["BOX_FORMATS", "Box", "Class", "Detections", "Output", "Region"]


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
        if not (
            target is None
            or is_integer(target)
            or callable(target)
            or isinstance(target, (Class, Region))
        ):
            raise TypeError(
                "Output(target) must be None, a class id, Class, Region or a callable. "
                f"Received: target={target!r} of type {type(target).__name__}"
            )
        self.output = output if isinstance(output, str) else int(output)
        self.target = target

    @property
    def name(self) -> str:
        inner = (
            "top prediction"
            if self.target is None
            else getattr(
                self.target,
                "name",
                f"class {self.target}" if is_integer(self.target) else "callable",
            )
        )
        return f"{inner} of output {self.output!r}"

    def __repr__(self) -> str:
        return f"Output({self.output!r}, {self.target!r})"


def _class_id(value, argument: str) -> int:
    if not is_integer(value):
        raise TypeError(
            f"{argument} must be a class id (int). Received: {value!r} of type "
            f"{type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"{argument} must be >= 0. Received: {value!r}")
    return int(value)


class Box:
    """One detection of a detector: the prediction that matches `box`.

    Among the detector's raw predictions (RetinaNet's anchors, D-FINE's
    queries, the rows of a `camlens.DetectionHead`), decoded to boxes the way
    the model decodes them, the one of highest IoU with `box`, at least `iou`,
    whose top class is `class_id` (any class when `None`); its score is that
    prediction's class score before any sigmoid or softmax, the logit of
    `class_id` or of its top class (ODAM, Zhao & Chan, ICLR 2023).

    Args:
        box: 4 numbers, in input pixels (the model's input, after any
            `preprocess`) in `box_format`.
        class_id: the class to explain, or `None` for the matched
            prediction's top class.
        iou: the least intersection over union a prediction must reach.
        box_format: `"yxyx"` (top, left, bottom, right) by default, or another
            of `BOX_FORMATS` (Keras's names: absolute ones in input pixels,
            `rel_` ones as fractions of the image's height and width).

    Example:
        >>> camlens.Explainer(detector)(image, targets=Box([20, 30, 60, 90], class_id=2))
    """

    box: np.ndarray
    class_id: int | None
    iou: float
    box_format: str

    def __init__(self, box, class_id=None, iou: float = 0.5, box_format: str = "yxyx"):
        values = np.asarray(box, dtype=np.float64) if _is_numeric(box) else None
        if values is None or values.shape != (4,):
            raise ValueError(f"Box(box) must be 4 numbers. Received: box={box!r}")
        if not np.isfinite(values).all():
            raise ValueError(f"Box(box) must be 4 finite numbers. Received: box={box!r}")
        self.box = values
        self.class_id = None if class_id is None else _class_id(class_id, "Box(class_id)")
        if isinstance(iou, bool) or not isinstance(iou, numbers.Real) or not 0 < iou <= 1:
            raise ValueError(f"Box(iou) must be a number in (0, 1]. Received: iou={iou!r}")
        self.iou = float(iou)
        self.box_format = check_box_format(box_format, "Box(box_format)")

    @property
    def name(self) -> str:
        what = "top class" if self.class_id is None else f"class {self.class_id}"
        return f"{what} in box {_numbers(self.box)} ({self.box_format})"

    def __repr__(self) -> str:
        return (
            f"Box({_numbers(self.box)}, class_id={self.class_id}, iou={self.iou}, "
            f"box_format={self.box_format!r})"
        )


class Detections:
    """A detector's own detections: one map each.

    The model's own decoding (keras-hub's `decode_predictions`, its non-max
    suppression; camlens's for a `DetectionHead`), its detections of at least
    `min_score`, the `k` most confident. `targets=None` on a detector means
    `Detections()`.

    Args:
        k: at most this many detections per image.
        min_score: the least confidence kept; `None` keeps every detection
            the model's decoding returns (keras-hub's threshold is its
            decoder's `confidence_threshold`; 0.5 for a `DetectionHead`).
    """

    def __init__(self, k: int = 10, min_score: float | None = None):
        if not is_integer(k) or k < 1:
            raise ValueError(f"Detections(k) must be a positive integer. Received: k={k!r}")
        self.k = int(k)
        if min_score is not None and (
            isinstance(min_score, bool) or not isinstance(min_score, numbers.Real)
        ):
            raise TypeError(
                f"Detections(min_score) must be a number or None. Received: min_score={min_score!r}"
            )
        self.min_score = None if min_score is None else float(min_score)

    @property
    def name(self) -> str:
        return f"the detector's top {self.k} detections"

    def __repr__(self) -> str:
        return f"Detections(k={self.k}, min_score={self.min_score})"


def _is_numeric(value) -> bool:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return array.dtype.kind in "iuf"


def _numbers(values) -> str:
    return "[" + ", ".join(f"{float(v):g}" for v in values) + "]"
