"""Real photos to try an ImageNet model on: scikit-image's public-domain samples.

The photos come from the scikit-image package itself (`skimage.data`), which
holds them on disk; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import extras

# (name, skimage.data function, attribution), as scikit-image documents them.
PHOTOS = (
    (
        "cat",
        "chelsea",
        "Chelsea the cat, by Stefan van der Walt (CC0), from scikit-image's sample data",
    ),
    (
        "coffee",
        "coffee",
        "Coffee cup, courtesy of Pikolo Espresso Bar, by Rachel Michetti (CC0), "
        "from scikit-image's sample data",
    ),
)


@dataclass(frozen=True)
class Photo:
    """A sample photo.

    Attributes:
        name: a short name, `"cat"` or `"coffee"`.
        image: the RGB PIL image at its own size.
        attribution: who took it, its licence, where it comes from.
    """

    name: str
    image: Image.Image
    attribution: str


def sample_photos() -> list[Photo]:
    """The cat (451x300) and the coffee cup (600x400) photos of scikit-image.

    Raises:
        MissingExtraError: scikit-image is missing (`pip install "camlens[imagenet]"`).
    """
    data = extras.require("skimage.data", "sample_photos()")
    return [
        Photo(name, Image.fromarray(getattr(data, function)()).convert("RGB"), attribution)
        for name, function, attribution in PHOTOS
    ]


def photo_to_input(image: Image.Image, size: int = 224) -> np.ndarray:
    """A photo as a model input: resized (bicubic, whole photo) to `(1, size, size, 3)`, 0..255.

    The whole photo is kept (no crop), so a heatmap resized back to the photo's
    size lies over the same places.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(
            f"image must be a PIL.Image.Image. Received: image of type {type(image).__name__}"
        )
    resized = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.float32)[None]
