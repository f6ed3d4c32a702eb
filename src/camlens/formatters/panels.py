"""camlens's captioned panels: one overlay per target, or per image, with captions."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .checks import check_explanation, check_target_names
from .overlay import as_image, format_as_image, overlay

# Layout of the captioned panels.
_PANEL_GAP = 4  # pixels between two panels
_CAPTION_PAD = 3  # pixels around the caption text
_LINE_SPACING = 2  # pixels between two caption lines
_MIN_PANEL_WIDTH = 64  # so that captions stay readable under tiny images
_BACKGROUND = (255, 255, 255)
_TEXT_COLOR = (0, 0, 0)


def format_targets_as_image(expl, target_names=None, **format_kwargs):
    """Draw one captioned overlay per target, side by side.

    When one target's heatmap has negative values, every panel is drawn with
    the diverging colormap, so that the panels read alike.

    Args:
        expl: an `Explanation` with an image and any number of targets.
        target_names: the class names, a sequence indexed by class id or a
            mapping from class id to name; `None` captions with the ids.
        **format_kwargs: passed on to `format_as_image` (`resampling_filter`,
            `colormap`, `alpha_limit`, `diverging_colormap`).

    Returns:
        A PIL image of mode `"RGB"`: K panels (K = number of targets, one
        panel of the plain image when there is none), each the overlay of its
        target above a caption with the class name and the score (`0.973`).
    """
    check_explanation(expl)
    check_target_names(target_names)
    pictures = target_pictures(expl, format_kwargs)
    captions = [caption_lines(t, target_names) for t in expl.targets]
    if not captions:
        return pictures[0]
    return compose_panels(pictures, captions)


def image_and_overlay(image, heatmap, **overlay_kwargs) -> Image.Image:
    """The image and, to its right, the heatmap laid over it: one RGB picture.

    Args:
        image: a PIL image or an (H, W[, C]) array of 0..255 pixel values.
        heatmap: (h, w) in [0, 1], or [-1, 1], as in `overlay`.
        **overlay_kwargs: passed on to `overlay`.

    Returns:
        An RGB PIL image (2 W, H).
    """
    image = as_image(image)
    drawn = overlay(image, heatmap, **overlay_kwargs)
    picture = Image.new("RGB", (2 * image.width, image.height))
    picture.paste(on_white(image.convert("RGBA")), (0, 0))
    picture.paste(on_white(drawn), (image.width, 0))
    return picture


def compose_panels(pictures, captions, columns=None):
    """Lay pictures out in a grid with their caption lines below each.

    Args:
        pictures: K RGB PIL images of the same size `(w, h)`.
        captions: K lists of caption lines.
        columns: panels per row; all in one row when `None`.

    Returns:
        An RGB PIL image; one row is `K * max(w, 64) + (K - 1) * 4` pixels wide.
    """
    font = ImageFont.load_default()
    line_height = font.getbbox("Ag0")[3]
    n_lines = max(len(lines) for lines in captions)
    caption_height = 2 * _CAPTION_PAD + n_lines * line_height + (n_lines - 1) * _LINE_SPACING
    width, height = pictures[0].size
    panel_width = max(width, _MIN_PANEL_WIDTH)
    panel_height = height + caption_height
    columns = len(pictures) if columns is None else min(columns, len(pictures))
    rows = -(-len(pictures) // columns)
    canvas = Image.new(
        "RGB",
        (
            columns * panel_width + (columns - 1) * _PANEL_GAP,
            rows * panel_height + (rows - 1) * _PANEL_GAP,
        ),
        _BACKGROUND,
    )
    draw = ImageDraw.Draw(canvas)
    for k, (picture, lines) in enumerate(zip(pictures, captions)):
        left = (k % columns) * (panel_width + _PANEL_GAP)
        top = (k // columns) * (panel_height + _PANEL_GAP)
        canvas.paste(picture, (left + (panel_width - width) // 2, top))
        for i, line in enumerate(lines):
            text = _fit_text(line, font, panel_width - 2 * _CAPTION_PAD)
            line_top = top + height + _CAPTION_PAD + i * (line_height + _LINE_SPACING)
            draw.text((left + _CAPTION_PAD, line_top), text, fill=_TEXT_COLOR, font=font)
    return canvas


def target_pictures(expl, format_kwargs):
    """One RGB overlay per target (the plain image when there is none)."""
    views = [dataclasses.replace(expl, targets=[t]) for t in expl.targets] or [expl]
    # One signed map draws every panel with the diverging colormap, alike.
    signed = any(_has_negative(t.heatmap) for t in expl.targets)
    return [on_white(format_as_image(view, signed=signed, **format_kwargs)) for view in views]


def caption_lines(target_expl, target_names):
    """The caption of a target: its name, then its score (`0.973`)."""
    lines = [_target_label(target_expl.target, target_names)]
    if target_expl.score is not None:
        try:
            lines.append(f"{float(target_expl.score):.3f}")
        except (TypeError, ValueError):
            lines.append(str(target_expl.score))
    return lines


def _has_negative(heatmap) -> bool:
    return isinstance(heatmap, np.ndarray) and heatmap.dtype.kind in "if" and bool(
        (heatmap < 0).any()
    )


def on_white(picture):
    """An RGBA picture as RGB, its transparent parts shown on white."""
    background = Image.new("RGBA", picture.size, _BACKGROUND + (255,))
    return Image.alpha_composite(background, picture).convert("RGB")


def _target_label(target, target_names):
    """The display name of a target: its class name, else its id."""
    is_id = isinstance(target, numbers.Integral) and not isinstance(target, bool)
    if not is_id:
        # A callable target (a custom score) is shown by its name.
        return str(getattr(target, "__name__", target))
    if target_names is None:
        return str(int(target))
    if isinstance(target_names, Mapping):
        for key in (target, int(target)):
            if key in target_names:
                return str(target_names[key])
        raise ValueError(
            f"target_names has no name for class {int(target)}. "
            f"Received: target_names with keys {list(target_names)[:10]}"
        )
    if 0 <= target < len(target_names):
        return str(target_names[int(target)])
    raise ValueError(
        f"target_names has no name for class {int(target)}. "
        f"Received: target_names of length {len(target_names)}"
    )


def _fit_text(text, font, max_width):
    """Shorten `text` with a trailing `...` until it fits in `max_width` pixels."""
    if font.getlength(text) <= max_width:
        return text
    while text and font.getlength(text + "...") > max_width:
        text = text[:-1]
    return text + "..."
