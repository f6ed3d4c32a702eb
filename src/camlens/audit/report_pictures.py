"""The report's pictures: overlays of maps on thumbnails, written beside the page."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..files.writing import write_atomically

PICTURES = "report"
"""The folder of the pictures, beside `report.html`."""

THUMBNAIL = 128


def overlay_png(pixels: np.ndarray, heatmap: np.ndarray) -> bytes:
    """PNG bytes of `heatmap` (h, w) laid over an image (H, W, C) with values 0..255."""
    return png_bytes(overlay_image(pixels, heatmap))


def overlay_image(image, heatmap):
    """`camlens.overlay` of `heatmap` on `image` (a PIL image or pixel array), as RGB."""
    from ..formatters import overlay

    return overlay(image, heatmap).convert("RGB")


class Pictures:
    """Writes the page's pictures into its folder, each once."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(exist_ok=True)

    def record(self, row, heatmap: np.ndarray, name: str | None = None) -> str:
        """The record's image with `heatmap` over it; `name` for another map than
        the record's own (a concept's)."""
        name = name or f"{int(row['index']):06d}.jpg"
        path = self.folder / name
        if not path.exists():
            write_atomically(path, jpeg(overlay_image(thumbnail(row["path"]), heatmap)))
        return f"{PICTURES}/{name}"

    def mean_map(self, name: str, heatmap: np.ndarray) -> str:
        from PIL import Image

        write_atomically(
            self.folder / name,
            jpeg(overlay_image(Image.new("RGB", (THUMBNAIL, THUMBNAIL), (128, 128, 128)), heatmap)),
        )
        return f"{PICTURES}/{name}"


def thumbnail(path):
    """The image at `path`, at most `THUMBNAIL` pixels a side; grey for in-memory data."""
    from PIL import Image

    from ..files.images import load_image

    if not isinstance(path, str):  # null in the records
        return Image.new("RGB", (THUMBNAIL, THUMBNAIL), (128, 128, 128))
    image = load_image(Path(path)).convert("RGB")
    scale = THUMBNAIL / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(image) -> bytes:
    """The page's pictures, as JPEG: much faster to encode than PNG, and smaller."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()
