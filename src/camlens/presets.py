"""keras-hub presets saved in a local folder: the image classifier and its preprocessor.

`keras_hub.models.ImageClassifier.from_preset(folder)` reads a folder written by
`save_to_preset` without any network access. The preprocessor (resizing and
scaling, kept out of the model's graph by keras-hub) turns an image into the
input the classifier takes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .files import FileProblem, convert_image

PRESET_CONFIG = "config.json"


def load_preset(folder: Path) -> tuple[object, Callable]:
    """`(classifier, preprocess)` from a keras-hub preset folder.

    Returns:
        The `keras_hub.models.ImageClassifier` and `preprocess(image)`, which maps
        a PIL image to the (1, H, W, C) float32 input of the classifier (its
        preprocessor applied; only the pixels' conversion to RGB when it has none).
    """
    folder = Path(folder)
    if not (folder / PRESET_CONFIG).is_file():
        raise FileProblem(
            f"MODEL is a folder but not a keras-hub preset (no {PRESET_CONFIG}). Received: {folder}"
        )
    try:
        import keras_hub
    except ImportError as error:
        raise FileProblem(
            f"{folder} is a keras-hub preset; loading it needs keras-hub: "
            'pip install "camlens[hub]"'
        ) from error
    try:
        classifier = keras_hub.models.ImageClassifier.from_preset(str(folder))
    except Exception as error:  # keras-hub raises many kinds for a bad preset
        raise FileProblem(f"{folder} is not a keras-hub image classifier preset: {error}") from error
    return classifier, preprocessor_of(classifier)


def preprocessor_of(classifier) -> Callable:
    """`preprocess(image)`: a PIL image to the classifier's (1, H, W, C) float32 input."""
    import keras

    preprocessor = getattr(classifier, "preprocessor", None)

    def preprocess(image) -> np.ndarray:
        pixels = np.asarray(convert_image(image, "RGB"), dtype=np.float32)[None]
        if preprocessor is None:
            return pixels
        return np.asarray(keras.ops.convert_to_numpy(preprocessor(pixels)), dtype=np.float32)

    return preprocess
