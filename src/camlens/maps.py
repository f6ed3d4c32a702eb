"""`Maps`: what an `Explainer` returns for a batch, and its `Explanation` objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .explanation import Explanation, TargetExplanation, image_from_array


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
    """

    heatmaps: np.ndarray
    targets: np.ndarray
    scores: np.ndarray
    outputs: np.ndarray

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
                targets=[
                    TargetExplanation(
                        target=int(self.targets[n, k]),
                        score=float(self.scores[n, k]),
                        heatmap=self.heatmaps[n, k],
                    )
                    for k in range(self.heatmaps.shape[1])
                ],
                target_names=target_names,
            )
            for n, image in enumerate(images)
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
