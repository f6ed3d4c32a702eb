"""Draw explanations as pictures: heatmaps laid over the input image.

`format_as_image` and its helpers follow ELI5's `eli5.formatters.image`
(same names, signatures and defaults), with two differences: `expand_heatmap`
returns an array rather than a PIL image, and the alpha cap is applied again
after resizing so that filters that overshoot cannot exceed it.
`format_targets_as_image` and `explanation_to_html` go beyond ELI5: one
captioned panel per target.

This module is backend-free: it needs only numpy, Pillow and matplotlib's
colormaps (never `matplotlib.pyplot`, so no display is needed).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import numbers
from collections.abc import Mapping, Sequence

import matplotlib.cm
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .explanation import Explanation

# Layout of the captioned panels drawn by `format_targets_as_image`.
_PANEL_GAP = 4  # pixels between two panels
_CAPTION_PAD = 3  # pixels around the caption text
_LINE_SPACING = 2  # pixels between two caption lines
_MIN_PANEL_WIDTH = 64  # so that captions stay readable under tiny images
_BACKGROUND = (255, 255, 255)
_TEXT_COLOR = (0, 0, 0)


def format_as_image(
    expl,
    resampling_filter=Image.LANCZOS,
    colormap=matplotlib.cm.viridis,
    alpha_limit=0.65,
):
    """Lay the first target's heatmap over the explanation's image.

    The heatmap is coloured with `colormap`, made as opaque as its values
    (capped at `alpha_limit`), resized to the image, then alpha-composited
    over it. As in ELI5, an explanation without targets gives the image back.

    Args:
        expl: an `Explanation` whose `image` is a PIL image and whose first
            target has a `heatmap`, a 2-D array `(h, w)` with values in [0, 1].
        resampling_filter: the Pillow filter used to resize the coloured
            heatmap to the image size, e.g. `Image.NEAREST`, `Image.LANCZOS`.
        colormap: a matplotlib colormap (or its registered name), or any
            callable mapping an `(h, w)` array in [0, 1] to an `(h, w, 4)`
            RGBA array in [0, 1].
        alpha_limit: the largest opacity of the heatmap, in [0, 1]; `0`
            leaves the image unchanged, `None` applies no cap.

    Returns:
        A PIL image of mode `"RGBA"` and the size of `expl.image`.
    """
    _check_explanation(expl)
    _check_alpha_limit(alpha_limit)
    image = _image_as_rgba(expl.image)
    if not expl.targets:
        return image
    heatmap = _check_heatmap(expl.targets[0].heatmap, name="expl.targets[0].heatmap")

    # Colour first, resize second (as ELI5 does): the colours of the layer's
    # cells are kept and only blended at their borders by the filter.
    colored = _colorize(heatmap, colormap)
    _update_alpha(colored, starting_array=heatmap, alpha_limit=alpha_limit)
    overlay = _resize_heatmap_image(colored, image, resampling_filter)
    # Filters such as LANCZOS overshoot near sharp edges; cap again so that
    # alpha_limit holds on the output too (ELI5 caps only before resizing).
    overlay = _cap_image_alpha(overlay, alpha_limit)
    return _overlay_heatmap(overlay, image)


def heatmap_to_image(heatmap):
    """Turn a heatmap array into a PIL image, scaling [0, 1] to [0, 255].

    Args:
        heatmap: a numpy array with values in [0, 1], of shape `(h, w)`
            (grayscale), `(h, w, 3)` (RGB) or `(h, w, 4)` (RGBA).

    Returns:
        A PIL image of size `(w, h)` and mode `"L"`, `"RGB"` or `"RGBA"`.
    """
    heatmap = _check_heatmap(heatmap, name="heatmap", ranks=(2, 3))
    if heatmap.ndim == 3 and heatmap.shape[2] not in (3, 4):
        raise ValueError(
            "A rank-3 heatmap must have 3 (RGB) or 4 (RGBA) channels. "
            f"Received: heatmap.shape={heatmap.shape}"
        )
    # Truncation, not rounding, as in ELI5: 1.0 -> 255, 0.999 -> 254.
    return Image.fromarray((heatmap * 255).astype(np.uint8))


def expand_heatmap(heatmap, image, resampling_filter=Image.LANCZOS):
    """Resize a heatmap to the size of an image.

    Args:
        heatmap: a numpy array accepted by `heatmap_to_image`, shape `(h, w)`,
            `(h, w, 3)` or `(h, w, 4)`, values in [0, 1].
        image: the PIL image whose size the heatmap takes.
        resampling_filter: the Pillow filter used to resize.

    Returns:
        A float32 array of shape `(image.height, image.width)` (plus the
        channel axis for a rank-3 heatmap) with values in [0, 1].
    """
    resized = _resize_heatmap_image(heatmap, image, resampling_filter)
    return np.asarray(resized, dtype=np.float32) / 255.0


def format_targets_as_image(expl, target_names=None, **format_kwargs):
    """Draw one captioned overlay per target, side by side.

    Args:
        expl: an `Explanation` with an image and any number of targets.
        target_names: the class names, a sequence indexed by class id or a
            mapping from class id to name; `None` captions with the ids.
        **format_kwargs: passed on to `format_as_image` (`resampling_filter`,
            `colormap`, `alpha_limit`).

    Returns:
        A PIL image of mode `"RGB"`: K panels (K = number of targets, one
        panel of the plain image when there is none), each the overlay of its
        target above a caption with the class name and the score (`0.973`).
    """
    _check_explanation(expl)
    _check_target_names(target_names)
    pictures = _target_pictures(expl, format_kwargs)
    captions = [_caption_lines(t, target_names) for t in expl.targets]
    if not captions:
        return pictures[0]
    return compose_panels(pictures, captions)


def explanation_to_html(expl, target_names=None):
    """Render an explanation as HTML: one figure per target, with a caption.

    Args:
        expl: an `Explanation`; its image, if any, is shown with each
            target's heatmap laid over it (`format_as_image`'s defaults).
        target_names: as in `format_targets_as_image`.

    Returns:
        An HTML fragment (a string) with every picture embedded as a base64
        PNG (`<img src="data:image/png;base64,...">`), the captions as text
        and the explanation's `error`, if any; all text is escaped.
    """
    _check_explanation(expl)
    _check_target_names(target_names)
    parts = ['<div class="camlens-explanation">']
    header = " ".join(
        html.escape(str(text))
        for text in (expl.method, expl.estimator, expl.layer and f"(layer {expl.layer})")
        if text
    )
    if header:
        parts.append(f"<p><b>{header}</b></p>")
    if expl.description:
        parts.append(f"<p>{html.escape(str(expl.description))}</p>")
    if expl.error:
        parts.append(
            f'<p class="camlens-error" style="color:#b00">{html.escape(str(expl.error))}</p>'
        )
    if expl.image is not None:
        pictures = _target_pictures(expl, {})
        captions = [_caption_lines(t, target_names) for t in expl.targets] or [[]]
        parts.append('<div style="display:flex;flex-wrap:wrap;gap:8px">')
        for picture, lines in zip(pictures, captions):
            parts.append(_html_figure(picture, lines))
        parts.append("</div>")
    parts.append("</div>")
    return "\n".join(parts)


# --- ELI5's private helpers --------------------------------------------------


def _colorize(heatmap, colormap):
    """Colour a 2-D heatmap.

    Args:
        heatmap: a float array of shape `(h, w)` with values in [0, 1].
        colormap: a colormap, its registered name, or a callable as in
            `format_as_image`.

    Returns:
        A float array of shape `(h, w, 4)`, RGBA values in [0, 1].
    """
    # A later diverging colormap for heatmaps in [-1, 1] fits here: map the
    # values with `(heatmap + 1) / 2` before calling it.
    if isinstance(colormap, str):
        try:
            colormap = matplotlib.colormaps[colormap]
        except KeyError:
            raise ValueError(
                "colormap must be a matplotlib colormap name or a callable. "
                f"Received: colormap={colormap!r}"
            ) from None
    if not callable(colormap):
        raise TypeError(
            "colormap must be a matplotlib colormap name or a callable. "
            f"Received: colormap={colormap!r} of type {type(colormap).__name__}"
        )
    colored = np.asarray(colormap(heatmap), dtype=np.float64)
    if colored.shape == heatmap.shape + (3,):
        colored = np.concatenate([colored, np.ones(heatmap.shape + (1,))], axis=-1)
    if colored.shape != heatmap.shape + (4,):
        raise ValueError(
            f"colormap must return an RGBA array of shape {heatmap.shape + (4,)}. "
            f"Received: an array of shape {colored.shape}"
        )
    if colored.min() < 0 or colored.max() > 1:
        raise ValueError(
            "colormap must return values in [0, 1]. Received: values in "
            f"[{colored.min()}, {colored.max()}]"
        )
    return colored


def _update_alpha(image_array, starting_array=None, alpha_limit=None):
    """Set the alpha channel of an RGBA array in place, capped at `alpha_limit`.

    Args:
        image_array: a float array of shape `(h, w, 4)`, modified in place.
        starting_array: an `(h, w)` array whose values become the alpha;
            `None` keeps `image_array`'s own alpha channel.
        alpha_limit: the largest alpha allowed, in [0, 1], or `None`.
    """
    if isinstance(starting_array, np.ndarray):
        # Opacity follows the evidence's strength; `abs` keeps that meaning
        # for heatmaps in [-1, 1] and changes nothing for [0, 1].
        alpha = np.abs(starting_array)
    else:
        alpha = image_array[:, :, 3]
    image_array[:, :, 3] = _cap_alpha(alpha, alpha_limit)


def _cap_alpha(alpha_arr, alpha_limit):
    """Return a copy of `alpha_arr` with every value at most `alpha_limit`.

    Args:
        alpha_arr: an array of alpha values in [0, 1], any shape.
        alpha_limit: a number in [0, 1], or `None` for no cap.

    Returns:
        An array of `alpha_arr`'s shape.
    """
    _check_alpha_limit(alpha_limit)
    if alpha_limit is None:
        return alpha_arr
    return np.minimum(alpha_arr, alpha_limit)


def _overlay_heatmap(heatmap, image):
    """Alpha-composite an RGBA heatmap image over an RGBA image of its size.

    Args:
        heatmap: the PIL image (mode `"RGBA"`) drawn on top.
        image: the PIL image (mode `"RGBA"`) underneath.

    Returns:
        A new PIL image of mode `"RGBA"`.
    """
    return Image.alpha_composite(image, heatmap)


# --- camlens's own helpers ----------------------------------------------------


def _resize_heatmap_image(heatmap, image, resampling_filter):
    """Return `heatmap` as a PIL image resized to `image`'s size."""
    if not isinstance(image, Image.Image):
        raise TypeError(
            "image must be a PIL.Image.Image. "
            f"Received: image={image!r} of type {type(image).__name__}"
        )
    return heatmap_to_image(heatmap).resize(image.size, resample=resampling_filter)


def _cap_image_alpha(image, alpha_limit):
    """Return an RGBA PIL image with its alpha capped at `alpha_limit * 255`."""
    if alpha_limit is None:
        return image
    array = np.array(image)
    np.minimum(array[..., 3], int(alpha_limit * 255), out=array[..., 3])
    return Image.fromarray(array)


def _image_as_rgba(image):
    """Return the explanation's image converted to RGBA (a copy)."""
    if not isinstance(image, Image.Image):
        raise TypeError(
            "expl.image must be a PIL.Image.Image. "
            f"Received: expl.image={image!r} of type {type(image).__name__}"
        )
    return image.convert("RGBA")


def _check_explanation(expl):
    if not isinstance(expl, Explanation):
        raise TypeError(
            "expl must be a camlens Explanation. "
            f"Received: expl of type {type(expl).__name__}"
        )


def _check_alpha_limit(alpha_limit):
    if alpha_limit is None:
        return
    if isinstance(alpha_limit, bool) or not isinstance(alpha_limit, numbers.Real):
        raise TypeError(
            "alpha_limit must be a number in [0, 1] or None. "
            f"Received: alpha_limit={alpha_limit!r} of type {type(alpha_limit).__name__}"
        )
    if not 0 <= alpha_limit <= 1:
        raise ValueError(f"alpha_limit must be in [0, 1]. Received: alpha_limit={alpha_limit}")


def _check_heatmap(heatmap, name, ranks=(2,)):
    """Validate a heatmap and return it as a float64 array.

    Args:
        heatmap: the value to check.
        name: how error messages call it.
        ranks: the accepted numbers of dimensions.

    Returns:
        The heatmap as a float64 ndarray (integer input is not read as
        colormap indices).
    """
    # Heatmaps in [-1, 1] (negative evidence kept) would widen the accepted
    # range here; nothing else in the checks depends on it.
    if not isinstance(heatmap, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray. Received: {name} of type {type(heatmap).__name__}"
        )
    if heatmap.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers. Received: {name}.dtype={heatmap.dtype}"
        )
    if heatmap.ndim not in ranks:
        expected = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{name} must have rank {expected}. Received: {name}.shape={heatmap.shape}"
        )
    if heatmap.size == 0:
        raise ValueError(f"{name} must not be empty. Received: {name}.shape={heatmap.shape}")
    heatmap = heatmap.astype(np.float64)
    low, high = np.min(heatmap), np.max(heatmap)
    if not (0 <= low and high <= 1):  # NaN fails both comparisons
        raise ValueError(
            f"{name} must have values in [0, 1]. "
            f"Received: {name} with min={low} and max={high}"
        )
    return heatmap


def _check_target_names(target_names):
    if target_names is None or isinstance(target_names, Mapping):
        return
    if isinstance(target_names, (str, bytes)) or not isinstance(target_names, Sequence):
        raise TypeError(
            "target_names must be a sequence of names or a mapping from class id "
            f"to name. Received: target_names of type {type(target_names).__name__}"
        )


def _target_label(target, target_names):
    """Return the display name of a target: its class name, else its id."""
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


def _caption_lines(target_expl, target_names):
    """Return the caption of a target: its name, then its score (`0.973`)."""
    lines = [_target_label(target_expl.target, target_names)]
    if target_expl.score is not None:
        try:
            lines.append(f"{float(target_expl.score):.3f}")
        except (TypeError, ValueError):
            lines.append(str(target_expl.score))
    return lines


def _target_pictures(expl, format_kwargs):
    """Return one RGB overlay per target (the plain image when there is none)."""
    views = [dataclasses.replace(expl, targets=[t]) for t in expl.targets] or [expl]
    pictures = []
    for view in views:
        overlay = format_as_image(view, **format_kwargs)
        background = Image.new("RGBA", overlay.size, _BACKGROUND + (255,))
        pictures.append(Image.alpha_composite(background, overlay).convert("RGB"))
    return pictures


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


def _fit_text(text, font, max_width):
    """Shorten `text` with a trailing `...` until it fits in `max_width` pixels."""
    if font.getlength(text) <= max_width:
        return text
    while text and font.getlength(text + "...") > max_width:
        text = text[:-1]
    return text + "..."


def _html_figure(picture, lines):
    """Return an HTML `<figure>` with the picture as a base64 PNG and a caption."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    caption = " ".join(html.escape(line) for line in lines)
    figcaption = (
        "<figcaption>" + "<br>".join(html.escape(line) for line in lines) + "</figcaption>"
        if lines
        else ""
    )
    return (
        '<figure style="margin:0;text-align:center">'
        f'<img src="data:image/png;base64,{data}" alt="{caption}" '
        f'width="{picture.width}" height="{picture.height}">'
        f"{figcaption}</figure>"
    )
