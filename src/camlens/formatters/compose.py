"""Pictures composed: captioned panels in a grid, an image beside its overlay."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from .draw import as_image, overlay

# Layout of the captioned panels.
_PANEL_GAP = 4  # pixels between two panels
_CAPTION_PAD = 3  # pixels around the caption text
_LINE_SPACING = 2  # pixels between two caption lines
_MIN_PANEL_WIDTH = 64  # so that captions stay readable under tiny images
_BACKGROUND = (255, 255, 255)
_TEXT_COLOR = (0, 0, 0)


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


def on_white(picture):
    """An RGBA picture as RGB, its transparent parts shown on white."""
    background = Image.new("RGBA", picture.size, _BACKGROUND + (255,))
    return Image.alpha_composite(background, picture).convert("RGB")


def _fit_text(text, font, max_width):
    """Shorten `text` with a trailing `...` until it fits in `max_width` pixels."""
    if font.getlength(text) <= max_width:
        return text
    while text and font.getlength(text + "...") > max_width:
        text = text[:-1]
    return text + "..."


def overlay_panels(pictures, heatmaps, captions, columns=None) -> Image.Image:
    """Each picture beside its heatmap's overlay, captioned, in a grid.

    Args:
        pictures: K images (PIL or arrays, as for `overlay`) of one size.
        heatmaps: K heatmaps (h, w).
        captions: K lists of caption lines.
        columns: panels per row, as in `compose_panels`.
    """
    panels = [image_and_overlay(picture, heatmap) for picture, heatmap in zip(pictures, heatmaps)]
    return compose_panels(panels, captions, columns=columns)
