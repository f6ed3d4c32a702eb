"""Drawing a heatmap over an image: colours, opacity, resizing, the overlay.

The array tier of the formatters: images and heatmaps in, pictures out, no
`Explanation`. The helpers follow ELI5's `eli5.formatters.image` (same names,
signatures and defaults; `format_as_image`, their Explanation-level entry, is in
`explanation`), with two differences: `expand_heatmap` returns
an array rather than a PIL image, and the alpha cap is applied again after
resizing so that filters that overshoot cannot exceed it. Beyond ELI5: maps that
keep negative evidence (values in [-1, 1], `relu=False`) are drawn with a
diverging colormap centred on 0, blue where a region lowers the score and red
where it raises it, as opaque as the evidence is strong; `overlay` draws plain
arrays without an `Explanation`.
"""

from __future__ import annotations

import matplotlib.cm
import numpy as np
from PIL import Image

from .checks import check_alpha_limit, check_heatmap

DIVERGING_COLORMAP = "RdBu_r"
"""Blue for negative evidence, white at 0, red for positive."""


def overlay(
    image,
    heatmap,
    resampling_filter=Image.LANCZOS,
    colormap=matplotlib.cm.viridis,
    alpha_limit=0.65,
    diverging_colormap=DIVERGING_COLORMAP,
    signed=None,
    name="heatmap",
):
    """Lay a heatmap over an image, without an `Explanation`.

    Args:
        image: a PIL image, or an array (H, W), (H, W, 1), (H, W, 3) or
            (H, W, 4) with pixel values 0..255.
        heatmap: (h, w) array, values in [0, 1], or in [-1, 1] for a map that
            keeps negative evidence.
        resampling_filter, colormap, alpha_limit, diverging_colormap: as in
            `format_as_image` (`camlens.formatters.explanation`).
        signed: draw with `diverging_colormap` (`True`) or `colormap`
            (`False`); `None` chooses by the heatmap: diverging when it has a
            negative value. Pass `True` to draw several maps alike.
        name: how error messages call `heatmap`.

    Returns:
        A PIL image of mode `"RGBA"` and the size of `image`.

    Example:
        >>> camlens.overlay(photo, maps.heatmaps[0, 0]).save("overlay.png")
    """
    check_alpha_limit(alpha_limit)
    image = as_image(image)
    heatmap, signed = checked_heatmap(heatmap, name, signed)
    # Colour first, resize second (as ELI5 does): the colours of the layer's
    # cells are kept and only blended at their borders by the filter.
    colored = color_heatmap(heatmap, colormap, diverging_colormap, signed, alpha_limit)
    drawn = _resize_heatmap_image(colored, image, resampling_filter)
    # Filters such as LANCZOS overshoot near sharp edges; cap again so that
    # alpha_limit holds on the output too (ELI5 caps only before resizing).
    drawn = _cap_image_alpha(drawn, alpha_limit)
    return _overlay_heatmap(drawn, image.convert("RGBA"))


def checked_heatmap(heatmap, name, signed, ranks=(2,)):
    """Validate a heatmap; decide whether it is drawn with the diverging colormap.

    Args:
        heatmap, name: as in `overlay`.
        signed: `True`, `False`, or `None` to choose by the heatmap (diverging
            when it has a negative value).
        ranks: the accepted numbers of dimensions.

    Returns:
        `(heatmap as float64, signed as a bool)`.
    """
    heatmap = check_heatmap(heatmap, name=name, ranks=ranks, signed=signed is not False)
    if signed is None:
        signed = bool(heatmap.min() < 0)
    return heatmap, bool(signed)


def color_heatmap(heatmap, colormap, diverging_colormap, signed, alpha_limit):
    """Colour a checked `(h, w)` heatmap: RGBA `(h, w, 4)` floats in [0, 1].

    `colormap` colours a map in [0, 1], `diverging_colormap` a signed one by
    `(heatmap + 1) / 2` (0 on its centre); the alpha is `|heatmap|`, capped at
    `alpha_limit`.
    """
    if signed:
        colored = _colorize((heatmap + 1) / 2, diverging_colormap)
    else:
        colored = _colorize(heatmap, colormap)
    _update_alpha(colored, starting_array=heatmap, alpha_limit=alpha_limit)
    return colored


def heatmap_to_image(heatmap):
    """Turn a heatmap array into a PIL image, scaling [0, 1] to [0, 255].

    Args:
        heatmap: a numpy array with values in [0, 1], of shape `(h, w)`
            (grayscale), `(h, w, 3)` (RGB) or `(h, w, 4)` (RGBA).

    Returns:
        A PIL image of size `(w, h)` and mode `"L"`, `"RGB"` or `"RGBA"`.
    """
    heatmap = check_heatmap(heatmap, name="heatmap", ranks=(2, 3))
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


_ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def as_image(image):
    """A PIL image as it is; an (H, W[, C]) array of 0..255 pixel values as one."""
    if isinstance(image, Image.Image):
        return image
    if not isinstance(image, np.ndarray):
        raise TypeError(
            "image must be a PIL.Image.Image or a numpy array (H, W[, C]) of 0..255 "
            f"pixel values. Received: image of type {type(image).__name__}"
        )
    pixels = image[..., None] if image.ndim == 2 else image
    if pixels.ndim != 3 or pixels.shape[-1] not in _ARRAY_MODES or image.dtype.kind not in "biuf":
        raise ValueError(
            "image must be an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array of real "
            f"numbers. Received: image.shape={image.shape}, image.dtype={image.dtype}"
        )
    pixels = np.clip(np.nan_to_num(pixels.astype(np.float64)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


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
        # Opacity follows the evidence's strength: |value| for signed maps,
        # the value itself for [0, 1].
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
    check_alpha_limit(alpha_limit)
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
    check_pil(image, "image")
    return heatmap_to_image(heatmap).resize(image.size, resample=resampling_filter)


def _cap_image_alpha(image, alpha_limit):
    """Return an RGBA PIL image with its alpha capped at `alpha_limit * 255`."""
    if alpha_limit is None:
        return image
    array = np.array(image)
    np.minimum(array[..., 3], int(alpha_limit * 255), out=array[..., 3])
    return Image.fromarray(array)


def check_pil(image, name: str) -> None:
    """A TypeError naming `name` unless `image` is a PIL image."""
    if not isinstance(image, Image.Image):
        raise TypeError(
            f"{name} must be a PIL.Image.Image. "
            f"Received: {name}={image!r} of type {type(image).__name__}"
        )
