"""What camlens returns: `Maps` for a batch, `Explanation` for one image.

`Explanation` and `TargetExplanation` keep the field names of ELI5's
``eli5.base`` classes. Drawing them (notebook display) imports the formatters
only when asked.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass
class Maps:
    """Class activation maps for a batch of N images and K targets.

    Attributes:
        heatmaps: (N, K, h, w) float64, values in [0, 1] (in [-1, 1] with
            `relu=False`); for a vision transformer, (h, w) is its patch grid;
            (N, K, t) for 1-D inputs (N, T, C), (N, K, d, h, w) for volumes
            (N, D, H, W, C).
        targets: (N, K) the class id explained, -1 for callable targets.
        scores: (N, K) the explained score (the model output for the class,
            or the pre-activation score with `score="logit"`).
        outputs: (N, ...) the model's outputs (a list or dict of such arrays
            for a model with several outputs).
        boxes: for a detector's targets, (N, K, 4) the box of each detection
            explained, (top, left, bottom, right) in input pixels (NaN for a
            padded slot, where an image has fewer detections than another);
            `None` otherwise.
        layers: for a detector's targets, the names of the layers (pyramid
            levels) the maps were read at; `None` otherwise.
        confidences: for a detector's targets, (N, K) each detection's
            confidence (its class probability, as the model's decoding
            computes it); `None` otherwise.
        input_size: for a detector's targets, `(H, W)` of the model's input,
            the pixels `boxes` are in; `None` otherwise.
    """

    heatmaps: np.ndarray
    targets: np.ndarray
    scores: np.ndarray
    outputs: np.ndarray
    boxes: np.ndarray | None = None
    layers: list | None = None
    confidences: np.ndarray | None = None
    input_size: tuple | None = None

    def in_boxes(self) -> Maps:
        """A detector's maps at the input's size, each 0 outside its detection's
        box and min-max scaled inside it (pytorch-grad-cam's
        `renormalize_cam_in_bounding_boxes`).

        Returns:
            `Maps` like these, heatmaps (N, K, H, W).
        """
        from ..formatters.boxes import renormalized_in_boxes

        if self.boxes is None:
            raise ValueError(
                "in_boxes() renormalises a detector's maps inside their boxes; these "
                "maps have no boxes. Received: maps of non-detection targets"
            )
        assert self.input_size is not None, "maps with boxes know their input's size"
        heatmaps = renormalized_in_boxes(self.heatmaps, self.boxes, self.input_size)
        return replace(self, heatmaps=heatmaps)

    def to_explanations(self, images, target_names=None) -> list[Explanation]:
        """One `Explanation` per image, to draw with the formatters.

        Args:
            images: the N images shown under the maps: PIL images, or an
                (N, H, W, C) array (each image shifted to 0 and scaled to
                0..255, as `explain_prediction` does); an (N, T, C) array of
                signals or an (N, D, H, W, C) array of volumes is kept as
                float arrays, one per explanation.
            target_names: class names for the captions, as in
                `format_targets_as_image`.

        Returns:
            N explanations, each with K targets (class id, score, heatmap);
            a callable target shows as class id -1.
        """
        if len(images) != len(self.heatmaps):
            raise ValueError(
                f"images must hold one image per map ({len(self.heatmaps)}). "
                f"Received: {len(images)} images"
            )
        return [
            Explanation(
                estimator="",
                image=_shown_image(image),
                targets=self.target_explanations(n),
                target_names=target_names,
                input_size=self.input_size,
            )
            for n, image in enumerate(images)
        ]

    def target_explanations(self, n: int) -> list[TargetExplanation]:
        """The K `TargetExplanation`s of image n (a detector's padded slots left out)."""
        return [
            TargetExplanation(
                target=int(self.targets[n, k]),
                score=float(self.scores[n, k]),
                heatmap=self.heatmaps[n, k],
                proba=None if self.confidences is None else float(self.confidences[n, k]),
                box=None if self.boxes is None else self.boxes[n, k],
            )
            for k in range(self.heatmaps.shape[1])
            if self.boxes is None or self.targets[n, k] >= 0
        ]


def _shown_image(image):
    """The `image` of the explanation of one of `images`.

    An (H, W, C) array becomes a PIL image; a signal (T, C) or a volume
    (D, H, W, C) stays an array, of floats; a PIL image is kept.
    """
    if not isinstance(image, np.ndarray):
        return image
    if image.ndim in (2, 4):
        return image if image.dtype.kind == "f" else image.astype(np.float64)
    return image_from_array(image)


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
            reported the model output in `score`, and so does camlens; for a
            detection, its confidence (the class probability).
        box: for a detection, its box (top, left, bottom, right) in the
            model's input pixels; `None` otherwise.
    """

    target: Any
    score: float | None = None
    heatmap: np.ndarray | None = None
    proba: float | None = None
    box: np.ndarray | None = None


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
        input_size: for a detector's explanation, `(H, W)` of the model's
            input, whose pixels the targets' boxes are in (the drawings scale
            them to `image`); `None` otherwise.

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
    input_size: tuple | None = None

    def _repr_png_(self) -> bytes | None:
        from ..formatters import format_targets_as_image  # drawing loads matplotlib

        if self.image is None:
            return None
        buffer = io.BytesIO()
        format_targets_as_image(self, target_names=self.target_names).save(buffer, format="PNG")
        return buffer.getvalue()

    def _repr_html_(self) -> str:
        from ..formatters import explanation_to_html

        return explanation_to_html(self, target_names=self.target_names)


def image_from_array(array: np.ndarray):
    """The PIL image of an (H, W, C) input array, as ELI5 derived it with Keras.

    Shifted so that its minimum is not below 0, scaled to 0..255; L, RGB or RGBA
    by channel count.
    """
    import keras

    return keras.utils.array_to_img(array, data_format="channels_last", scale=True)
