"""A 3-D explanation as a picture: a montage of slices along the depth axis.

The heatmap is resized trilinearly to the volume; a bounded number of evenly
spaced slices of the volume, each with its slice of the heatmap laid over it
by the 2-D overlay, are arranged in a grid of captioned tiles.
"""

from __future__ import annotations

import math

import matplotlib.cm
import numpy as np
from PIL import Image

from ..checks import check_positive_int
from ..resize import upsample
from .checks import check_alpha_limit, check_map_fits, check_volume
from .compose import compose_panels, on_white
from .draw import DIVERGING_COLORMAP, checked_heatmap, overlay


def slice_montage(
    volume,
    heatmap=None,
    max_slices=16,
    columns=None,
    resampling_filter=Image.LANCZOS,
    colormap=matplotlib.cm.viridis,
    alpha_limit=0.65,
    diverging_colormap=DIVERGING_COLORMAP,
    signed=None,
    min_tile=96,
    name="heatmap",
):
    """Draw slices of a volume along its first axis, each with its heatmap slice.

    Each slice is shown in RGB for a 3-channel volume (video frames), else
    in grey from its first channel, scaled to 0..255 by the whole volume's
    range (so that the slices compare). The heatmap, resized trilinearly to
    `(D, H, W)` (`camlens.resize.upsample`), is laid over its slices as
    `overlay` lays a 2-D map over an image; one colormap for all of them
    (diverging when any value is negative, with `signed=None`).

    Args:
        volume: `(D, H, W, C)` array of real numbers, e.g. an `Explanation`'s
            `image` for a 3-D input.
        heatmap: `(d, h, w)` array no larger than `(D, H, W)`, values in
            [0, 1], or in [-1, 1] for a map that keeps negative evidence;
            `None` draws the slices alone.
        max_slices: the most slices shown, evenly spaced from the first to
            the last; all of them when `D <= max_slices`.
        columns: tiles per row; `None`: `ceil(sqrt(slices))`.
        resampling_filter, colormap, alpha_limit, diverging_colormap, signed:
            as in `overlay`.
        min_tile: slices smaller than this many pixels on their longer side
            are enlarged by an integer factor (nearest neighbour).
        name: how error messages call `heatmap`.

    Returns:
        A PIL image of mode `"RGBA"` (opaque): `compose_panels`' grid of the
        tiles, each captioned `slice {index}`.

    Example:
        >>> slice_montage(scan, expl.targets[0].heatmap, max_slices=9).save("scan.png")
    """
    check_alpha_limit(alpha_limit)
    volume = check_volume(volume, "volume")
    max_slices = check_positive_int(max_slices, "max_slices")
    min_tile = check_positive_int(min_tile, "min_tile")
    depth, height, width, _ = volume.shape
    if heatmap is not None:
        heatmap, signed = checked_heatmap(heatmap, name, signed, ranks=(3,))
        check_map_fits(heatmap, (depth, height, width), name, "volume")
        heatmap = np.clip(upsample(heatmap, (depth, height, width)), -1 if signed else 0, 1)
    pixels = volume_pixels(volume)
    indices = slice_indices(depth, max_slices)
    zoom = max(1, math.ceil(min_tile / max(height, width)))
    tiles = []
    for d in indices:
        tile = Image.fromarray(pixels[d]).convert("RGBA")
        if heatmap is not None:
            tile = overlay(
                tile,
                heatmap[d],
                resampling_filter=resampling_filter,
                colormap=colormap,
                alpha_limit=alpha_limit,
                diverging_colormap=diverging_colormap,
                signed=signed,
                name=name,
            )
        tiles.append(on_white(tile).resize((width * zoom, height * zoom), Image.Resampling.NEAREST))
    if columns is None:
        columns = math.ceil(math.sqrt(len(tiles)))
    columns = check_positive_int(columns, "columns")
    captions = [[f"slice {d}"] for d in indices]
    return compose_panels(tiles, captions, columns=columns).convert("RGBA")


def slice_indices(depth, max_slices):
    """The depth indices shown: all of `range(depth)`, or `max_slices` evenly spaced."""
    if depth <= max_slices:
        return list(range(depth))
    return [int(d) for d in np.round(np.linspace(0, depth - 1, max_slices))]


def volume_pixels(volume):
    """`(D, H, W, C)` floats as uint8 slices, scaled by the volume's own range.

    Returns:
        `(D, H, W, 3)` for a 3-channel volume, else `(D, H, W)` from channel 0.
    """
    shown = volume if volume.shape[-1] == 3 else volume[..., 0]
    shown = np.nan_to_num(shown)
    low, high = shown.min(), shown.max()
    scaled = (shown - low) / (high - low) * 255 if high > low else np.zeros_like(shown)
    return np.round(scaled).astype(np.uint8)
