"""A detection's box on a picture, and maps renormalised inside their boxes.

Boxes are (top, left, bottom, right) in the pixels of the model's input; a
picture of another size gets them scaled.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..resize import upsample

BOX_COLOR = (255, 255, 255)
"""The box's outline and its label's background."""

EDGE_COLOR = (0, 0, 0)
"""A dark rim around the outline and the label's text, readable on any map."""


def renormalized_in_boxes(heatmaps: np.ndarray, boxes: np.ndarray, size: tuple) -> np.ndarray:
    """Each map at the input's size, 0 outside its box, min-max scaled to [0, 1] inside.

    pytorch-grad-cam's `renormalize_cam_in_bounding_boxes` for one detection a
    map: what the map shows inside the detection's own box, at full contrast.

    Args:
        heatmaps: (N, K, h, w) maps in [0, 1].
        boxes: (N, K, 4) yxyx input pixels (NaN: a padded slot, left at 0).
        size: `(H, W)`, the input's size.

    Returns:
        (N, K, H, W) float64.
    """
    upsampled = upsample(heatmaps, size)
    result = np.zeros_like(upsampled)
    rows = np.arange(size[0])[:, None] + 0.5
    columns = np.arange(size[1])[None, :] + 0.5
    for index in np.ndindex(*heatmaps.shape[:2]):
        top, left, bottom, right = boxes[index]
        if np.isnan(top):
            continue
        inside = (rows >= top) & (rows < bottom) & (columns >= left) & (columns < right)
        if not inside.any():
            continue
        values = upsampled[index][inside]
        span = values.max() - values.min()
        result[index][inside] = (values - values.min()) / span if span > 0 else 0.0
    return result


def draw_box(picture: Image.Image, box, input_size, label: str | None = None) -> Image.Image:
    """`picture` with `box` outlined and `label` written at its top-left corner.

    Args:
        picture: a PIL image (drawn on a copy).
        box: (top, left, bottom, right) in the pixels of an input of `input_size`.
        input_size: `(H, W)` of the model's input (the picture's own size when `None`).
        label: e.g. the class name and confidence.
    """
    picture = picture.copy()
    height, width = input_size or (picture.height, picture.width)
    scale_y, scale_x = picture.height / height, picture.width / width
    top, left, bottom, right = (
        float(box[0]) * scale_y,
        float(box[1]) * scale_x,
        float(box[2]) * scale_y,
        float(box[3]) * scale_x,
    )
    draw = ImageDraw.Draw(picture)
    thickness = max(1, round(min(picture.size) / 100))
    for rim, color in ((thickness + 1, EDGE_COLOR), (0, BOX_COLOR)):
        draw.rectangle(
            (left - rim, top - rim, right + rim, bottom + rim),
            outline=color,
            width=thickness + (2 if rim else 0),
        )
    if label:
        font = ImageFont.load_default()
        text_left, text_top = max(left, 0), max(top, 0)
        bounds = draw.textbbox((text_left, text_top), label, font=font)
        draw.rectangle((bounds[0] - 1, bounds[1] - 1, bounds[2] + 1, bounds[3] + 1), fill=BOX_COLOR)
        draw.text((text_left, text_top), label, fill=EDGE_COLOR, font=font)
    return picture
