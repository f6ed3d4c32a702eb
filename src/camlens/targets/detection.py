"""A detector's targets: the prediction matching a box, or its own detections."""

from __future__ import annotations

import numbers

import numpy as np

from ..checks import BOX_FORMATS, check_box_format, check_class_id, is_integer

__all__ = ["BOX_FORMATS", "BOX_SCORES", "Box", "Detections"]

BOX_SCORES = ("logit", "iou+confidence")
"""What a `Box`'s map explains: the class logit (ODAM), or IoU + confidence."""


class Box:
    """One detection of a detector: the prediction that matches `box`.

    Among the detector's raw predictions (RetinaNet's anchors, D-FINE's
    queries, the rows of a `camlens.DetectionHead`), decoded to boxes the way
    the model decodes them, the one of highest IoU with `box`, at least `iou`,
    whose top class is `class_id` (any class when `None`). Its score is that
    prediction's class score before any sigmoid or softmax, the logit of
    `class_id` or of its top class (ODAM, Zhao & Chan, ICLR 2023); or, with
    `score="iou+confidence"`, the IoU of the prediction's decoded box with
    `box` plus its confidence in the class (pytorch-grad-cam's box score
    target): the map then also shows what placed the box.

    Args:
        box: 4 numbers, in input pixels (the model's input, after any
            `preprocess`) in `box_format`.
        class_id: the class to explain, or `None` for the matched
            prediction's top class.
        iou: the least intersection over union a prediction must reach.
        box_format: `"yxyx"` (top, left, bottom, right) by default, or another
            of `BOX_FORMATS` (Keras's names: absolute ones in input pixels,
            `rel_` ones as fractions of the image's height and width).
        score: `"logit"` or `"iou+confidence"` (see above); the latter needs a
            method whose map comes from gradients or plain forward passes
            (not Shapley-CAM's second derivatives).

    Example:
        >>> camlens.Explainer(detector)(image, targets=Box([20, 30, 60, 90], class_id=2))
    """

    box: np.ndarray
    class_id: int | None
    iou: float
    box_format: str
    score: str

    def __init__(
        self,
        box,
        class_id=None,
        iou: float = 0.5,
        box_format: str = "yxyx",
        score: str = "logit",
    ):
        values = np.asarray(box, dtype=np.float64) if _is_numeric(box) else None
        if values is None or values.shape != (4,):
            raise ValueError(f"Box(box) must be 4 numbers. Received: box={box!r}")
        if not np.isfinite(values).all():
            raise ValueError(f"Box(box) must be 4 finite numbers. Received: box={box!r}")
        self.box = values
        self.class_id = None if class_id is None else check_class_id(class_id, "Box(class_id)")
        if isinstance(iou, bool) or not isinstance(iou, numbers.Real) or not 0 < iou <= 1:
            raise ValueError(f"Box(iou) must be a number in (0, 1]. Received: iou={iou!r}")
        self.iou = float(iou)
        self.box_format = check_box_format(box_format, "Box(box_format)")
        if score not in BOX_SCORES:
            raise ValueError(f"Box(score) must be one of {BOX_SCORES}. Received: score={score!r}")
        self.score = score

    @property
    def name(self) -> str:
        what = "top class" if self.class_id is None else f"class {self.class_id}"
        scored = "" if self.score == "logit" else f", {self.score}"
        return f"{what} in box {_numbers(self.box)} ({self.box_format}{scored})"

    def __repr__(self) -> str:
        return (
            f"Box({_numbers(self.box)}, class_id={self.class_id}, iou={self.iou}, "
            f"box_format={self.box_format!r}, score={self.score!r})"
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
