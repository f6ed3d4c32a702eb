"""Images from files: decoded safely, as a viewer shows them, and as a model's input.

Images load with Pillow's decompression-bomb limit in force and are decoded in
full, so truncated or corrupt files fail here, with their name.
They come out as they look in a viewer: turned by their EXIF orientation,
8 bits per channel (16- and 32-bit integer and float images are scaled from
their own minimum and maximum to 0..255), in mode L, LA, RGB or RGBA (CMYK,
YCbCr, palette and other modes converted); of an animated image, the first
frame, with a warning.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class FileProblem(ValueError):
    """A file that cannot be used, with a message naming it."""


def load_image(path: Path) -> Image.Image:
    """A fully decoded PIL image in mode L, LA, RGB or RGBA, upright, 8 bits per channel.

    Refuses decompression bombs, truncated or corrupt files. See the module's
    docstring for what is converted and how.
    """
    path = Path(path)
    check_readable(path, "image")
    return _decoded(path, str(path))


def decode_image(data: bytes, name: str) -> Image.Image:
    """`load_image` for an encoded image held in memory (a PNG's or JPEG's bytes, as
    a Parquet file or a Hugging Face data set stores them); `name` is for messages."""
    return _decoded(io.BytesIO(data), name)


def _decoded(source: Path | io.BytesIO, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                frames = getattr(image, "n_frames", 1)
                image.seek(0)
                image.load()
                decoded = _eight_bit(ImageOps.exif_transpose(image))  # a copy, upright
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise FileProblem(f"{name} is too large to decode safely: {error}") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise FileProblem(f"{name} is not an image Pillow can read: {error}") from error
    if frames > 1:
        warnings.warn(
            f"{name} holds {frames} frames (an animation); camlens explains the first.",
            stacklevel=3,
        )
    return decoded


def convert_image(image: Image.Image, mode: str) -> Image.Image:
    """`image` (L, LA, RGB or RGBA) in `mode`; transparent parts shown on white.

    Dropping an alpha channel keeps what a viewer shows, not the colours
    stored under transparent pixels (often black or arbitrary).
    """
    if image.mode in ("LA", "RGBA") and mode not in ("LA", "RGBA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert(mode)


def image_to_doc(image: Image.Image, model, size: tuple[int, int] | None = None) -> np.ndarray:
    """The (1, H, W, C) float32 input for `model`: the image resized, pixel values 0..255.

    The model is expected to hold its own preprocessing (e.g. a Rescaling layer),
    or to be given a `preprocess` callable.

    Args:
        size: `(height, width)` to resize to, for models whose input has `None`
            spatial dimensions (or to override the model's size).
    """
    from ..model.inspection import graph_input_shape

    shape = graph_input_shape(model)
    if shape is None or len(shape) != 4 or (size is None and None in shape[1:3]):
        raise FileProblem(
            "the model has no fixed (height, width, channels) input shape to resize "
            "the image to; pass size=(height, width) (camlens: --size HxW). "
            f"Received: input shape {shape}"
        )
    height, width = size if size is not None else shape[1:3]
    channels = shape[3]
    if channels not in IMAGE_MODES:
        raise FileProblem(
            f"the model takes {channels} channels; images have 1, 3 or 4. "
            f"Received: input shape {shape}"
        )
    resized = convert_image(image, IMAGE_MODES[channels]).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    pixels = np.asarray(resized, dtype=np.float32).reshape(height, width, channels)
    return pixels[None]


_DEEP_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_KEPT_MODES = ("L", "LA", "RGB", "RGBA")


def _eight_bit(image: Image.Image) -> Image.Image:
    """The decoded image in mode L, LA, RGB or RGBA (see the module's docstring)."""
    if image.mode in _KEPT_MODES:
        return image
    if image.mode in _DEEP_MODES:
        values = np.asarray(image, dtype=np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        low, high = values.min(), values.max()
        scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info or image.mode in ("PA", "RGBa"):
        return image.convert("RGBA")
    if image.mode == "La":
        return image.convert("LA")
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, P without transparency


def check_readable(path: Path, role: str) -> None:
    """A `FileProblem` unless `path` is an existing file; `role` names it."""
    if not path.exists():
        raise FileProblem(f"{role} file not found: {path}")
    if not path.is_file():
        raise FileProblem(f"{role} is not a file: {path}")
