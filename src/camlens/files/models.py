"""Models from files: `.keras` / `.h5` files and keras-hub presets saved in a folder.

Model files load in Keras safe mode (no code stored in the file runs unless the
caller says `unsafe=True`). `keras_hub.models.ImageClassifier.from_preset(folder)`
reads a folder written by `save_to_preset` without any network access. A
keras-hub task keeps its preprocessor (resizing and scaling) out of its graph:
`image_input` gives the function that turns an image into the input a loaded
model takes.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .images import FileProblem, check_readable, convert_image, image_to_doc

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
PRESET_CONFIG = "config.json"


def load_explained_model(
    path: Path, unsafe: bool = False, size: tuple[int, int] | None = None
) -> tuple[object, Callable]:
    """`(model, to_doc)`: a model file or a keras-hub preset folder, and its image-to-input map.

    A keras-hub task keeps its preprocessor (resizing, scaling) out of its graph:
    `to_doc` applies it to the image at its own size, or at `size` (height,
    width) when given. Other models get the image resized to their input size
    (or to `size`, for inputs with `None` spatial dimensions).
    """
    if not Path(path).is_dir():
        model = load_model(path, unsafe=unsafe)
        return model, image_input(model, size)
    model, preprocess = load_preset(path)
    return model, _resized_first(preprocess, size)


def image_input(model, size: tuple[int, int] | None = None) -> Callable:
    """`to_doc(image)`: a PIL image to the (1, H, W, C) float32 input of a loaded model.

    A model with a callable `preprocessor` (a keras-hub task) gets it applied to
    the image at its own size, or resized to `size` (height, width) first; any
    other model gets the image resized to its input size (or to `size`).
    """
    if not callable(getattr(model, "preprocessor", None)):
        return lambda image: image_to_doc(image, model, size=size)
    return _resized_first(preprocessor_of(model), size)


def load_model(path: Path, unsafe: bool = False):
    """A Keras model from a `.keras` or legacy `.h5` file, in safe mode unless `unsafe`."""
    import keras

    path = Path(path)
    check_readable(path, "model")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise FileProblem(
            f"model must be a .keras or .h5 file. Received: {path} (suffix '{path.suffix}')"
        )
    if path.suffix.lower() == ".keras":
        _register_keras_hub(path)
    try:
        model = keras.saving.load_model(path, safe_mode=not unsafe, compile=False)
    except Exception as error:  # Keras raises many kinds for a bad file
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise FileProblem(
                f"{path} contains code (e.g. a Lambda layer) that safe mode will not "
                "run. If you trust this file, pass unsafe=True (camlens: --unsafe) to "
                "load it anyway."
            ) from error
        raise FileProblem(f"{path} is not a Keras model file Keras can load: {error}") from error
    if not isinstance(model, keras.Model):
        raise FileProblem(f"{path} holds a {type(model).__name__}, not a Keras model.")
    return model


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
            f"model is a folder but not a keras-hub preset (no {PRESET_CONFIG}). Received: {folder}"
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
        raise FileProblem(
            f"{folder} is not a keras-hub image classifier preset: {error}"
        ) from error
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


def _resized_first(preprocess: Callable, size: tuple[int, int] | None) -> Callable:
    if size is None:
        return preprocess
    return lambda image: preprocess(image.resize((size[1], size[0]), Image.Resampling.BILINEAR))


def _register_keras_hub(path: Path) -> None:
    """Import keras-hub, when installed and when the file names it, so that files
    saved from its models load (importing it takes seconds: not for other files)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = archive.read("config.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        return  # not a .keras archive: Keras says what is wrong with it
    if b"keras_hub" not in config:
        return
    with contextlib.suppress(ImportError):
        import keras_hub  # noqa: F401
