"""A 1-D explanation as a picture: the signal, and its heatmap as a band beneath it.

Each channel of a `(T, C)` signal is drawn as a black line in its own lane,
scaled to the lane by the channel's own range; the lanes are tinted with the
heatmap's colour (half as opaque as the 2-D overlay: |value| capped at
`alpha_limit`, halved), and a band of the heatmap's colours, fully opaque,
runs under them. Time runs left to right, the same columns in the lanes and the band.
"""

from __future__ import annotations

import math

import matplotlib.cm
import numpy as np
from PIL import Image, ImageDraw

from ..checks import check_positive_int
from ..resize import upsample
from .checks import check_alpha_limit, check_map_fits, check_signal
from .draw import DIVERGING_COLORMAP, checked_heatmap, color_heatmap, heatmap_to_image

# Layout.
_MIN_WIDTH = 256  # a short signal gets an integer number of columns per step
_MAX_WIDTH = 1024  # a long one shares columns between steps
_LANE_HEIGHT = 64  # pixels per channel, up to _FEW_CHANNELS channels
_FEW_CHANNELS = 4
_MIN_LANE_HEIGHT = 24
_MANY_CHANNELS_HEIGHT = 256  # the lanes' total height with many channels
_LANE_MARGIN = 3  # pixels between a lane's edges and its signal's extremes
_BAND_GAP = 3  # white rows between the last lane and the band
_TINT_OPACITY = 0.5  # the lanes' tint, relative to the 2-D overlay's opacity
_BACKGROUND = (255, 255, 255)
_LINE_COLOR = (0, 0, 0)
_SEPARATOR_COLOR = (200, 200, 200)


def signal_with_heatmap(
    signal,
    heatmap=None,
    colormap=matplotlib.cm.viridis,
    alpha_limit=0.65,
    diverging_colormap=DIVERGING_COLORMAP,
    signed=None,
    width=None,
    lane_height=None,
    band_height=16,
    name="heatmap",
):
    """Draw a signal with its class activation map aligned in time beneath it.

    The heatmap is resized linearly to the signal's T steps
    (`camlens.resize.upsample`), then coloured as `overlay` colours a 2-D map.

    Layout, top to bottom: one lane of `lane_height` rows per channel (its
    last row a light grey separator), `3` white rows, then the band's
    `band_height` rows (none without a heatmap). Column `x` shows the time
    steps `floor(x T / width)` up to the next column's (the mean of the map
    over them when several share a column).

    Args:
        signal: `(T, C)` (or `(T,)`) array of real numbers, e.g. an
            `Explanation`'s `image` for a 1-D input.
        heatmap: `(t,)` array with `t <= T`, values in [0, 1], or in [-1, 1]
            for a map that keeps negative evidence; `None` draws the signal
            alone.
        colormap, alpha_limit, diverging_colormap, signed: as in `overlay`;
            the lanes' tint is half as opaque as `overlay`'s, the band
            always opaque.
        width: the picture's width in pixels; `None`: T, or a multiple of T
            at least 256 wide for a short signal, at most 1024.
        lane_height: the height of each channel's lane; `None`: 64, less for
            more than 4 channels (at least 24).
        band_height: the height of the band in pixels.
        name: how error messages call `heatmap`.

    Returns:
        A PIL image of mode `"RGBA"` (opaque), `width` pixels wide.

    Example:
        >>> signal_with_heatmap(ecg, expl.targets[0].heatmap).save("ecg.png")
    """
    check_alpha_limit(alpha_limit)
    signal = check_signal(signal, "signal")
    steps, channels = signal.shape
    width = _default_width(steps) if width is None else check_positive_int(width, "width")
    lane_height = (
        _default_lane_height(channels)
        if lane_height is None
        else check_positive_int(lane_height, "lane_height")
    )
    band_height = check_positive_int(band_height, "band_height")
    colored = None
    if heatmap is not None:
        heatmap, signed = checked_heatmap(heatmap, name, signed, ranks=(1,))
        check_map_fits(heatmap, (steps,), name, "signal")
        values = np.clip(upsample(heatmap, (steps,)), -1 if signed else 0, 1)
        columns = column_means(values, width)[None, :]
        colored = color_heatmap(columns, colormap, diverging_colormap, signed, alpha_limit)
    lanes_height = channels * lane_height
    height = lanes_height if colored is None else lanes_height + _BAND_GAP + band_height
    picture = Image.new("RGBA", (width, height), _BACKGROUND + (255,))
    if colored is not None:
        # Half the overlay's opacity, so that the line stays readable on it.
        tint = colored * np.array([1, 1, 1, _TINT_OPACITY])
        tint = heatmap_to_image(tint).resize((width, lanes_height), Image.Resampling.NEAREST)
        picture.alpha_composite(tint, (0, 0))
        band = heatmap_to_image(colored[..., :3]).convert("RGBA")
        picture.paste(
            band.resize((width, band_height), Image.Resampling.NEAREST), (0, height - band_height)
        )
    draw = ImageDraw.Draw(picture)
    for c in range(channels):
        top = c * lane_height
        draw.line(
            [(0, top + lane_height - 1), (width - 1, top + lane_height - 1)], fill=_SEPARATOR_COLOR
        )
        _draw_line(draw, signal[:, c], width, top, lane_height)
    return picture


def column_means(values, width):
    """The mean of `values (T,)` over the steps each of `width` columns shows.

    Column `x` shows the steps from `floor(x T / width)` up to (without) the
    next column's first, at least one: with `width` a multiple of T, each
    column shows one step.

    Returns:
        `(width,)` float64.
    """
    steps = len(values)
    edges = np.floor(np.arange(width + 1) * steps / width).astype(int)
    starts = edges[:-1]
    ends = np.maximum(edges[1:], starts + 1)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    return (sums[ends] - sums[starts]) / (ends - starts)


def _draw_line(draw, channel, width, top, lane_height):
    """Draw one channel `(T,)` as a polyline in the lane whose first row is `top`."""
    steps = len(channel)
    channel = np.nan_to_num(channel)
    low, high = channel.min(), channel.max()
    fraction = (channel - low) / (high - low) if high > low else np.full(steps, 0.5)
    # Rows from top + margin (the highest value) to the row above the
    # separator less the margin (the lowest).
    span = lane_height - 2 - 2 * _LANE_MARGIN
    ys = top + _LANE_MARGIN + (1 - fraction) * max(span, 0)
    xs = (np.arange(steps) + 0.5) * width / steps - 0.5
    points = list(zip(xs.tolist(), ys.tolist()))
    if steps == 1:
        draw.point(points, fill=_LINE_COLOR)
    else:
        draw.line(points, fill=_LINE_COLOR, width=1)


def _default_width(steps):
    if steps > _MAX_WIDTH:
        return _MAX_WIDTH
    return steps * math.ceil(_MIN_WIDTH / steps)


def _default_lane_height(channels):
    if channels <= _FEW_CHANNELS:
        return _LANE_HEIGHT
    return max(_MIN_LANE_HEIGHT, _MANY_CHANNELS_HEIGHT // channels)
