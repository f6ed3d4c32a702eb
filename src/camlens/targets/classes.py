"""Class scores: of a class, over a region of a dense output, on one output."""

from __future__ import annotations

import numbers

import numpy as np

from ..checks import check_class_id, is_integer


class Class:
    """The score of class `class_id`: the same as passing the int.

    Args:
        class_id: an index into the class axis of a (batch, classes) output.

    Example:
        >>> camlens.Explainer(model)(images, targets=[Class(3), Region(1)])
    """

    def __init__(self, class_id):
        self.class_id = check_class_id(class_id, "Class(class_id)")

    @property
    def name(self) -> str:
        return f"class {self.class_id}"

    def __repr__(self) -> str:
        return f"Class({self.class_id})"


REDUCTIONS = ("sum", "mean")
"""How a `Region` reduces the map over its pixels."""


class Region:
    """A score summed or averaged over a region of a dense output: a
    segmentation map's class, or a regression map (depth, density, heat).

    Segmentation Grad-CAM (Vinogradova et al. 2020): for an output
    (batch, H', W', classes), the score is the class's output summed over the
    pixels of `mask`. On a regression map (batch, H', W', 1) leave out
    `class_id`: the score is the mean predicted value inside `mask` ("what
    makes the predicted depth of this region").

    Args:
        class_id: the class (channel) whose output is read; `None` for a
            one-channel regression map.
        mask: (H', W') bool, True on the pixels to explain; `None` takes, per
            image, the pixels predicted as `class_id` (the output's argmax), or
            the whole map when `class_id` is `None`.
        reduce: `"sum"` or `"mean"` over the region; by default `"sum"` for a
            class (as the paper) and `"mean"` for a regression map. The maps
            differ by the region's size only.
    """

    def __init__(self, class_id=None, mask=None, reduce=None):
        self.class_id = None if class_id is None else check_class_id(class_id, "Region(class_id)")
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
        if reduce is not None and reduce not in REDUCTIONS:
            raise ValueError(
                f"Region(reduce) must be None or one of {REDUCTIONS}. Received: reduce={reduce!r}"
            )
        self.mask = mask
        self.reduce = reduce or ("sum" if self.class_id is not None else "mean")

    @property
    def name(self) -> str:
        what = "value" if self.class_id is None else f"class {self.class_id}"
        if self.mask is not None:
            where = f"{int(self.mask.sum())} pixels"
        else:
            where = "predicted pixels" if self.class_id is not None else "the map"
        return f"{what} over {where}" if self.reduce == "sum" else f"mean {what} over {where}"

    def __repr__(self) -> str:
        mask = "None" if self.mask is None else f"<{self.mask.shape} mask>"
        return f"Region({self.class_id}, mask={mask}, reduce={self.reduce!r})"


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
