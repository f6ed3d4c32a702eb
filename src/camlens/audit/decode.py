"""Items decoded into the model's input, in threads ahead of the model.

`Decoder` turns one item into the model's input (as `camlens explain` does), and
`prefetch` runs it in a thread pool while the model works on earlier batches. A
file that cannot be read becomes a failed item with the reason; it never stops
the job.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checks import check_size
from .items import Item


@dataclass(frozen=True)
class Decoded:
    """An item ready for the model, or the reason it failed.

    Attributes:
        item: the `Item`.
        pixels: (H, W, C) float32, the model's input (after its preprocessor).
        mask: (H, W) bool, the object in the model's input, or `None`.
        error: why the item could not be decoded, or `None`.
        image_size: (height, width) of the image as given (the file's pixels,
            upright, before any resizing; an in-memory image's own shape).
        picture: the image as given, (height, width, C) 0..255, kept for
            overlays (`Decoder(pictures=True)`), else `None`.
    """

    item: Item
    pixels: np.ndarray | None = None
    mask: np.ndarray | None = None
    error: str | None = None
    image_size: tuple[int, int] | None = None
    picture: np.ndarray | None = None


class Decoder:
    """Decodes items into the model's input, as `camlens explain` does.

    Files: a model with a `preprocessor` (a keras-hub task) gets it applied to
    the image at its own size, or resized to `size` first; any other model gets
    the image resized to its input size (or to `size`, for inputs with `None`
    spatial dimensions). In-memory images go through the preprocessor as given
    (`size` is for files); without one they must fit the model's input. Masks
    and boxes are in the image's pixels and are carried into the model's input
    with it: through the preprocessor (its resizing and cropping; its scaling
    is undone, which holds for keras-hub's per-pixel affine image converters),
    else resized as the image.

    Args:
        model: the Keras model.
        size: `(height, width)` to resize files to, or `None`.
        pictures: keep each image as given (`Decoded.picture`), for overlays.

    Raises:
        ValueError: the model's input size cannot be known (`None` spatial
            dimensions, no `size`, and no preprocessor that resizes).
    """

    def __init__(self, model, size: tuple[int, int] | None = None, pictures: bool = False):
        from ..files.models import image_input

        self.model = model
        self.size = check_size(size)
        preprocessor = getattr(model, "preprocessor", None)
        self.preprocessor = preprocessor if callable(preprocessor) else None
        self.to_doc = image_input(model, self.size)
        self.pictures = pictures
        self.shape = self._input_shape()

    def __call__(self, item: Item) -> Decoded:
        try:
            return self._decode(item)
        except (OSError, ValueError, TypeError) as error:  # FileProblem is a ValueError
            return Decoded(item, error=" ".join(str(error).split()) or type(error).__name__)

    def _decode(self, item: Item) -> Decoded:
        from ..files.images import convert_image, decode_image, load_image

        if item.pixels is not None:
            given = np.asarray(item.pixels, np.float32)
            pixels = given if self.preprocessor is None else self._preprocess(given[None])[0]
            return Decoded(
                item,
                self._checked(pixels, f"image {item.index}"),
                image_size=given.shape[:2],
                picture=given if self.pictures else None,
            )
        if item.encoded is not None:  # a file's bytes, kept in a table
            name = f"image {item.index}" + ("" if item.path is None else f" ({item.path})")
            image = decode_image(item.encoded, name)
        else:
            assert item.path is not None, "an item holds pixels, bytes or names a file"
            name = item.path
            image = load_image(Path(item.path))
        pixels = self._checked(self.to_doc(image)[0], name)
        picture = np.asarray(convert_image(image, "RGB")) if self.pictures else None
        return Decoded(
            item,
            pixels,
            self._object_mask(item, image),
            image_size=(image.height, image.width),
            picture=picture,
        )

    def _input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every decoded image: the model's input, or what the
        preprocessor makes of an image of `size` (of any size, when it resizes)."""
        from PIL import Image

        from ..model.inspection import graph_input_shape

        shape = graph_input_shape(self.model)
        if shape is None or len(shape) != 4 or shape[3] is None:
            raise ValueError(
                "audit needs a model with an image input (N, height, width, channels). "
                f"Received: a model with input shape {shape}"
            )
        if None not in shape[1:3]:
            if self.preprocessor is None and self.size not in (None, tuple(shape[1:3])):
                raise ValueError(
                    f"size must be the model's input size {tuple(shape[1:3])} or None for a "
                    f"model without a preprocessor. Received: size={self.size}"
                )
            return tuple(shape[1:])
        if self.preprocessor is None:
            if self.size is None:
                raise ValueError(
                    "the model's input has no fixed height and width (input shape "
                    f"{shape}): pass size=(height, width) (camlens: --size HxW) to resize "
                    "the images to"
                )
            return (*self.size, shape[3])
        probes = [self.size] if self.size is not None else [(37, 53), (53, 37)]
        shapes = {
            self.to_doc(Image.new("RGB", (w, h), (128, 128, 128))).shape[1:] for h, w in probes
        }
        if len(shapes) > 1:
            raise ValueError(
                f"the model's input has no fixed height and width (input shape {shape}) "
                "and its preprocessor keeps each image's size: pass size=(height, width) "
                "(camlens: --size HxW) to resize the images to"
            )
        return shapes.pop()

    def _checked(self, pixels: np.ndarray, name) -> np.ndarray:
        if pixels.shape != self.shape:
            via = "" if self.preprocessor is None else " after the model's preprocessor"
            raise ValueError(f"{name} has shape {pixels.shape}{via}; the model takes {self.shape}")
        return pixels

    def _preprocess(self, images: np.ndarray) -> np.ndarray:
        import keras

        assert self.preprocessor is not None, "called for models with a preprocessor"
        return np.asarray(keras.ops.convert_to_numpy(self.preprocessor(images)), np.float32)

    def _object_mask(self, item: Item, image) -> np.ndarray | None:
        """The object (the mask's white, or the box) as (H, W) bool in the model's input."""
        from PIL import Image

        from ..files.images import load_image
        from ..metrics import boxes_to_masks

        if item.mask is None and item.box is None:
            return None
        height, width = self.shape[:2]
        if self.preprocessor is None:
            if item.mask is not None:
                mask_image = load_image(Path(item.mask)).convert("L")
                return (
                    np.asarray(mask_image.resize((width, height), Image.Resampling.NEAREST)) >= 128
                )
            scale = np.array([height / image.height, width / image.width] * 2)
            box = np.round(np.asarray(item.box, np.float64) * scale).astype(int)
            return boxes_to_masks(box[None], (height, width))[0]
        if item.mask is not None:
            mask_image = load_image(Path(item.mask)).convert("L")
            raw = np.asarray(mask_image.resize(image.size, Image.Resampling.NEAREST)) >= 128
        else:
            raw = boxes_to_masks(np.asarray(item.box)[None], (image.height, image.width))[0]
        return self._through_preprocessor(raw)

    def _through_preprocessor(self, raw: np.ndarray) -> np.ndarray:
        """A mask (h, w) bool of the image as given, placed as the preprocessor places
        the image: white, black and the mask go through it, and each output pixel's
        share of white is read back (its scaling undone), kept where >= 0.5."""
        from PIL import Image

        if self.size is not None:
            resized = Image.fromarray(raw.astype(np.uint8) * 255).resize(
                (self.size[1], self.size[0]), Image.Resampling.NEAREST
            )
            raw = np.asarray(resized) >= 128
        white = np.full(raw.shape, 255.0, np.float32)
        stack = np.stack([raw * white, 0 * white, white])[..., None].repeat(3, -1)
        mask, black, white = self._preprocess(stack).astype(np.float64)
        span = white - black
        if np.abs(span).min() < 1e-6:
            raise ValueError(
                "the model's preprocessor maps black and white to the same "
                "values: the object mask cannot be placed in its input"
            )
        return ((mask - black) / span).mean(axis=-1) >= 0.5


def prefetch(
    items: Iterable[Item], decode: Callable[[Item], Decoded], workers: int, depth: int
) -> Iterator[Decoded]:
    """Decoded items in order, up to `depth` decoded ahead by `workers` threads."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="camlens-read") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(decode, item))
                if len(pending) >= depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
