"""The result objects, with the field names of ELI5's ``eli5.base`` classes."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .formatters import explanation_to_html, format_targets_as_image


@dataclass
class TargetExplanation:
    """The explanation of one target (class) for one image.

    Attributes:
        target: the class id explained (the top prediction when none was asked),
            or the callable that computed the score.
        score: the model's output for the target (post-softmax when the model
            ends in softmax, as in ELI5).
        heatmap: 2-D float array at the chosen layer's spatial size, values in
            [0, 1] (in [-1, 1] for methods asked to keep negative evidence);
            (t,) for a 1-D input, (d, h, w) for a 3-D one.
        proba: kept for ELI5 compatibility; ELI5 left it `None` for Keras and
            reported the model output in `score`, and so does camlens.
    """

    target: Any
    score: float | None = None
    heatmap: np.ndarray | None = None
    proba: float | None = None


@dataclass
class Explanation:
    """What `explain_prediction` returns: the input image and one entry per target.

    Attributes:
        estimator: the model's name.
        description: a short text saying what the explanation shows.
        error: an error message, `""` when the explanation succeeded.
        method: the method's display name, e.g. `"Grad-CAM"`.
        image: the input as a `PIL.Image.Image`; for a 1-D input the signal
            as a float array (T, C), for a 3-D input the volume (D, H, W, C).
        targets: one `TargetExplanation` per requested target, in order.
        layer: the name of the layer whose activations were used.
        target_names: class names used wherever a class is shown (a sequence
            indexed by class id or a mapping), or `None` to show ids.

    In a notebook an explanation displays itself: one captioned overlay per target
    (for a signal, the signal over its map's band; for a volume, a montage of slices).
    """

    estimator: str
    description: str | None = None
    error: str | None = None
    method: str | None = None
    image: Any = None
    targets: list[TargetExplanation] = field(default_factory=list)
    layer: str | None = None
    target_names: Any = None

    def _repr_png_(self) -> bytes | None:
        if self.image is None:
            return None
        buffer = io.BytesIO()
        format_targets_as_image(self, target_names=self.target_names).save(buffer, format="PNG")
        return buffer.getvalue()

    def _repr_html_(self) -> str:
        return explanation_to_html(self, target_names=self.target_names)


def image_from_array(array: np.ndarray):
    """The PIL image of an (H, W, C) input array, as ELI5 derived it with Keras.

    Shifted so that its minimum is not below 0, scaled to 0..255; L, RGB or RGBA
    by channel count.
    """
    import keras

    return keras.utils.array_to_img(array, data_format="channels_last", scale=True)
