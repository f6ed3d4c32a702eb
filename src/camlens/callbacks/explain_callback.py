"""`ExplainCallback`: how a model's class activation maps change while it trains."""

from __future__ import annotations

import io
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from .. import methods
from ..api.explainer import Explainer
from ..api.prediction import explanation_from_maps, image_from_doc
from ..checks import check_positive_int
from ..files.writing import write_atomically
from ..formatters import compose_panels
from ..formatters.explanation import caption_lines, target_pictures
from ..model.channels import is_channels_first, to_channels_last
from ..model.inputs import check_images
from .tensorboard import ImageSummaryWriter, tensorboard_available

GIF_FRAME_MS = 600

PNG_COMPRESS_LEVEL = 1
"""zlib level of the grids: about twice as fast to encode as Pillow's default (6),
for files about 15% larger (benchmarks/results/cpu-callback.md)."""


class ExplainCallback(keras.callbacks.Callback):
    """Explains a fixed set of images at the end of every `every` epochs of `fit`.

    Writes into `log_dir`:

    - `epoch-001.png`, ...: a grid with one row per image (in the order of
      `images`) and one column per target, each overlay at the image's own
      size, captioned with the epoch, the class and the score;
    - `maps.gif` when training ends: the grids of all explained epochs, animated;
    - TensorBoard image summaries (tag `camlens/<method>`, step = epoch) when the
      `tensorboard` package is installed; TensorFlow is not needed. They hold
      the same PNG bytes as the files.

    Training is not changed: the model runs with `training=False`, through the
    same `Explainer` as elsewhere, which draws no random numbers and writes no
    variable (dropout and batch-norm statistics stay as training left them).

    Args:
        images: (N, H, W, C) array fitting the model's input (pixel values as
            the model takes them).
        targets: as for `Explainer`: `None` for each image's top prediction at
            that epoch, a class id, a list of ids, or an int array (N,) / (N, K).
        method: a method name, as for `Explainer`.
        layer: the layer to explain, as for `Explainer` (`None`: automatic).
        every: explain after every `every`-th epoch (and after the last one).
        log_dir: the folder to write into (created if missing).
        tensorboard: `None` writes summaries when `tensorboard` is installed,
            `False` never, `True` always (an error when it is missing).
        **options: further `Explainer` options (`relu`, `score`, ...).

    Attributes:
        history: {epoch (1-based): Maps} of every explained epoch.

    Example:
        >>> callback = camlens.callbacks.ExplainCallback(x_val[:4], log_dir="cam-logs")
        >>> model.fit(x, y, epochs=10, callbacks=[callback])
    """

    _explainer: Explainer  # made by on_train_begin

    def __init__(
        self,
        images,
        targets=None,
        method: str = "gradcam",
        layer=None,
        every: int = 1,
        log_dir="camlens-logs",
        tensorboard: bool | None = None,
        **options,
    ):
        super().__init__()
        if not isinstance(images, np.ndarray):
            raise TypeError(
                f"images must be a numpy.ndarray (N, H, W, C). Received: images={type(images)!r}"
            )
        self.images = images
        self.targets = targets
        self.every = check_positive_int(every, "every")
        self.log_dir = Path(log_dir)
        if tensorboard and not tensorboard_available():
            raise ImportError(
                "tensorboard=True needs the tensorboard package: pip install tensorboard"
            )
        self._use_tensorboard = (
            tensorboard_available() if tensorboard is None else bool(tensorboard)
        )
        methods.get_method(method)  # a wrong name fails here, not after the first epoch
        self._explainer_arguments = dict(layer=layer, method=method, **options)
        self.history: dict[int, object] = {}
        self._frames: list[Image.Image] = []
        self._summaries = None

    def on_train_begin(self, logs=None):
        self._explainer = Explainer(self.model, **self._explainer_arguments)
        self.images = check_images(self.images, self.model, name="images")
        shown = to_channels_last(self.images) if is_channels_first(self.model) else self.images
        self._pictures = [image_from_doc(image[None]) for image in shown]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._frames = []
        if self._use_tensorboard and self._summaries is None:
            self._summaries = ImageSummaryWriter(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        number = epoch + 1
        if number % self.every == 0 or number == self.params.get("epochs"):
            self._explain(number)

    def on_train_end(self, logs=None):
        if self._frames:
            self._write_gif()
        if self._summaries is not None:
            self._summaries.close()
            self._summaries = None

    def _explain(self, epoch: int) -> None:
        maps = self._explainer(self.images, self.targets)
        self.history[epoch] = maps
        grid = self._grid(maps, epoch)
        self._frames.append(_gif_frame(grid))
        self._write(grid, epoch)

    def _grid(self, maps, epoch: int) -> Image.Image:
        """One row per image, one captioned overlay per target, in one layout pass."""
        pictures, captions = [], []
        for n, picture in enumerate(self._pictures):
            expl = explanation_from_maps(self._explainer, maps, n, picture, self.targets)
            pictures += target_pictures(expl, {})
            captions += [[f"epoch {epoch}", *caption_lines(t, None)] for t in expl.targets]
        return compose_panels(pictures, captions, columns=maps.heatmaps.shape[1])

    def _write(self, grid: Image.Image, epoch: int) -> None:
        """The grid's PNG, encoded once, to its file and to TensorBoard."""
        png = _png_bytes(grid)
        write_atomically(self.log_dir / f"epoch-{epoch:03d}.png", png)
        if self._summaries is not None:
            self._summaries.add_png(
                f"camlens/{self._explainer.method.name}", png, grid.size, step=epoch
            )

    def _write_gif(self) -> None:
        buffer = io.BytesIO()
        first, *rest = self._frames
        first.save(
            buffer,
            format="GIF",
            save_all=True,
            append_images=rest,
            duration=GIF_FRAME_MS,
            loop=0,
        )
        write_atomically(self.log_dir / "maps.gif", buffer.getvalue())


def _gif_frame(grid: Image.Image) -> Image.Image:
    """The grid in 256 colours for the GIF, by fast octree: Pillow's default
    (median cut, at save) took 0.2-0.45 s a frame here, octree 2-3 ms; one byte a pixel kept."""
    return grid.quantize(256, method=Image.Quantize.FASTOCTREE)


def _png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()
