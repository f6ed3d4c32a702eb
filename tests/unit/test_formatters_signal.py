"""formatters/signal.py: a 1-D explanation drawn as its signal over a heatmap band."""

import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

from camlens import Explanation, Maps, TargetExplanation
from camlens.formatters import (
    format_as_image,
    format_targets_as_image,
    signal_with_heatmap,
)
from camlens.formatters.signal import column_means

VIRIDIS = matplotlib.colormaps["viridis"]
RDBU = matplotlib.colormaps["RdBu_r"]
LANE = 64  # lane_height passed in these tests
BAND = 10  # band_height passed in these tests


def color_bytes(colormap, value):
    """The colormap's colour as bytes, truncated as the formatters do."""
    return (np.asarray(colormap(value)[:3]) * 255).astype(int)


def draw(signal, heatmap=None, **kwargs):
    kwargs.setdefault("lane_height", LANE)
    kwargs.setdefault("band_height", BAND)
    return np.asarray(signal_with_heatmap(signal, heatmap, **kwargs)).astype(int)


def band_of(picture):
    """The band's colours, one per column: (W, 3)."""
    band = picture[-BAND:, :, :3]
    assert (band == band[:1]).all()  # every row of the band alike
    return band[0]


def dark_rows(lane, column):
    """The rows of a lane where the line passes in a column."""
    return np.flatnonzero(lane[:, column, :3].sum(axis=-1) < 150)


def expl_of(image, *heatmaps):
    targets = [TargetExplanation(target=k, score=0.5, heatmap=h) for k, h in enumerate(heatmaps)]
    return Explanation(estimator="toy", method="Grad-CAM", image=image, targets=targets)


def test_band_is_the_colormaps_top_colour_where_the_map_is_1_and_bottom_where_0():
    heatmap = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0])
    signal = np.zeros((10, 1))  # at the layer's resolution: no resizing
    band = band_of(draw(signal, heatmap, width=100))  # 10 columns per step
    assert band.shape == (100, 3)
    np.testing.assert_array_equal(band[20:40], [color_bytes(VIRIDIS, 1.0)] * 20)
    np.testing.assert_array_equal(band[:20], [color_bytes(VIRIDIS, 0.0)] * 20)
    np.testing.assert_array_equal(band[50:60], [color_bytes(VIRIDIS, 0.25)] * 10)


def test_band_follows_the_colormap_argument():
    heatmap = np.array([0.0, 1.0])
    band = band_of(draw(np.zeros((2, 1)), heatmap, width=20, colormap="magma"))
    magma = matplotlib.colormaps["magma"]
    np.testing.assert_array_equal(band[0], color_bytes(magma, 0.0))
    np.testing.assert_array_equal(band[-1], color_bytes(magma, 1.0))


def test_band_is_aligned_in_time_with_the_signal():
    # A map 3x coarser than the signal, hot in its first third; the signal
    # has its pulse at the same time.
    heatmap = np.zeros(9)
    heatmap[1] = 1.0
    signal = np.zeros((90, 1))
    signal[10:20] = 1.0
    picture = draw(signal, heatmap, width=270)
    band = band_of(picture)
    # Read the map back from the band's colours (nearest viridis entry).
    lut = (VIRIDIS(np.linspace(0, 1, 256))[:, :3] * 255).astype(int)
    values = np.argmin(((band[:, None, :] - lut[None]) ** 2).sum(-1), axis=1) / 255
    # The map's cell 1 covers steps 10..19, columns 30..59; resized linearly,
    # it peaks at the cell's centre (step 14.5, columns 42..47) and falls
    # to 0.5 at the cell's edges.
    hot = np.flatnonzero(values > 0.5)
    assert hot.min() >= 30 and hot.max() < 60 and len(hot) >= 24
    assert 42 <= np.argmax(values) <= 47
    assert (values[90:] < 0.01).all()  # nothing from step 30 on
    # the line's high part sits in the same columns
    lane = picture[:LANE]
    high = [x for x in range(270) if dark_rows(lane, x).size and dark_rows(lane, x).max() < 10]
    # (steps 10..19: line points at x = 31 .. 58, column centres of those steps)
    assert abs(min(high) - hot.min()) <= 2 and abs(max(high) - hot.max()) <= 2


def test_line_pixels_sit_where_the_signal_values_say():
    signal = np.concatenate([np.full(50, -2.0), np.full(50, 3.0)])[:, None]  # a step
    picture = draw(signal)
    assert picture.shape[:2] == (LANE, 300)  # no heatmap: no band; 3 columns per step
    lane = picture[:LANE]
    for x in range(10, 140):  # the low half: the line near the lane's bottom
        rows = dark_rows(lane, x)
        assert rows.size and rows.min() >= LANE - 8, x
    for x in range(160, 290):  # the high half: near its top
        rows = dark_rows(lane, x)
        assert rows.size and rows.max() <= 6, x
    # at the step the line runs from bottom to top
    step = np.concatenate([dark_rows(lane, x) for x in range(148, 152)])
    assert step.min() <= 6 and step.max() >= LANE - 8


def test_each_channel_has_its_own_lane_scaled_by_its_own_range():
    steps = np.arange(40)
    up = (steps >= 20).astype(float)  # 0 then 1
    down = 1000 * (steps < 20)  # 1000 then 0: another scale
    picture = draw(np.stack([up, down], axis=1), np.zeros(4))
    assert picture.shape[0] == 2 * LANE + 3 + BAND
    first, second = picture[:LANE], picture[LANE : 2 * LANE]
    left, right = 40, 200  # columns in the first and the second half (width 280)
    assert dark_rows(first, left).min() >= LANE - 8 and dark_rows(first, right).max() <= 6
    assert dark_rows(second, left).max() <= 6 and dark_rows(second, right).min() >= LANE - 8


def test_lanes_are_tinted_where_the_map_is_hot_at_half_the_overlays_opacity():
    heatmap = np.array([0.0, 1.0])
    signal = np.zeros((2, 1))
    picture = draw(signal, heatmap, width=100, alpha_limit=0.65)
    # row 10: above the flat line (drawn at the lane's middle)
    np.testing.assert_array_equal(picture[10, :50, :3], 255)  # cold: white
    alpha = int(0.65 * 0.5 * 255) / 255
    expected = alpha * color_bytes(VIRIDIS, 1.0) + (1 - alpha) * 255
    np.testing.assert_allclose(picture[10, 50:, :3], [expected] * 50, atol=1.5)
    untinted = draw(signal, heatmap, width=100, alpha_limit=0)
    np.testing.assert_array_equal(untinted[10, :, :3], 255)
    np.testing.assert_array_equal(band_of(untinted)[-1], color_bytes(VIRIDIS, 1.0))


def test_signed_maps_use_the_diverging_colormap_centred_on_zero():
    heatmap = np.array([-1.0, 0.0, 1.0])
    band = band_of(draw(np.zeros((3, 1)), heatmap, width=30))
    np.testing.assert_array_equal(band[0], color_bytes(RDBU, 0.0))  # blue
    np.testing.assert_array_equal(band[15], color_bytes(RDBU, 0.5))  # white-ish
    np.testing.assert_array_equal(band[-1], color_bytes(RDBU, 1.0))  # red
    assert band[0][2] > band[0][0] + 50 and band[-1][0] > band[-1][2] + 50
    # a map in [0, 1] drawn as signed: 0 is the diverging centre, not viridis's purple
    forced = band_of(draw(np.zeros((3, 1)), np.array([0.0, 0.5, 1.0]), width=30, signed=True))
    np.testing.assert_array_equal(forced[0], color_bytes(RDBU, 0.5))


def test_a_long_signal_shares_columns_and_keeps_a_narrow_peak():
    heatmap = np.zeros(3000)
    heatmap[1500] = 1.0
    picture = draw(np.random.default_rng(0).normal(size=(3000, 1)), heatmap)
    assert picture.shape[1] == 1024
    band = band_of(picture)
    changed = np.flatnonzero((band != color_bytes(VIRIDIS, 0.0)).any(axis=1))
    # step 1500 of 3000 falls in column 512 of 1024
    assert changed.size and set(changed) <= {510, 511, 512, 513}


def test_column_means_average_the_steps_each_column_shows():
    values = np.arange(12, dtype=float)
    np.testing.assert_allclose(column_means(values, 4), [1, 4, 7, 10])
    np.testing.assert_allclose(column_means(values, 24), np.repeat(values, 2))


def test_format_as_image_draws_a_1d_explanation_as_its_signal():
    signal = np.sin(np.linspace(0, 6, 60))[:, None] * np.array([1.0, -1.0])
    heatmap = np.linspace(0, 1, 15)
    picture = format_as_image(expl_of(signal, heatmap))
    assert picture.mode == "RGBA" and picture.size == (300, 2 * 64 + 3 + 16)
    direct = signal_with_heatmap(signal, heatmap)
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(direct))
    no_targets = format_as_image(expl_of(signal))
    assert no_targets.size == (300, 2 * 64)


def test_panels_and_notebook_display_of_a_1d_explanation():
    signal = np.zeros((40, 1))
    hot_start, hot_end = np.zeros(10), np.zeros(10)
    hot_start[0], hot_end[-1] = 1.0, 1.0
    expl = expl_of(signal, hot_start, hot_end)
    panels = format_targets_as_image(expl, target_names=["start", "end"])
    one = signal_with_heatmap(signal, hot_start)
    assert panels.mode == "RGB" and panels.width == 2 * one.width + 4
    assert panels.height > one.height  # the captions
    # the first panel's band is hot on the left, the second's on the right
    row = np.asarray(panels)[one.height - 2].astype(int)
    top = color_bytes(VIRIDIS, 1.0)
    assert np.abs(row[2] - top).max() <= 1 and np.abs(row[one.width - 3] - top).max() > 30
    assert np.abs(row[-3] - top).max() <= 1
    with Image.open(io.BytesIO(expl._repr_png_())) as png:
        assert png.size == panels.size
    page = expl._repr_html_()
    assert page.count("data:image/png;base64,") == 2


def test_to_explanations_keeps_signals_as_float_arrays():
    heatmaps = np.random.default_rng(0).random((2, 1, 5))
    maps = Maps(heatmaps, np.zeros((2, 1), int), np.ones((2, 1)), np.zeros((2, 3)))
    signals = np.arange(2 * 20 * 3).reshape(2, 20, 3)
    explanations = maps.to_explanations(signals)
    assert isinstance(explanations[1].image, np.ndarray)
    assert explanations[1].image.dtype.kind == "f"
    np.testing.assert_array_equal(explanations[1].image, signals[1])
    assert format_as_image(explanations[0]).width == 20 * 13  # T * ceil(256 / T)


@pytest.mark.parametrize(
    "image, heatmap, match",
    [
        (Image.new("RGB", (20, 20)), np.zeros(5), r"expl.image must be a \(T, C\) signal.*PIL"),
        (np.zeros((8, 1)), np.zeros(10), r"expl.targets\[0\].heatmap must be no larger.*\(8,\)"),
        (np.zeros((8, 8, 3)), np.zeros(4), r"expl.image must be a \(T, C\).*\(8, 8, 3\)"),
        (np.zeros((8, 1)), np.full(4, 2.0), r"values in \[0, 1\]"),
    ],
)
def test_format_as_image_refuses_what_does_not_fit_a_1d_map(image, heatmap, match):
    with pytest.raises(ValueError, match=match):
        format_as_image(expl_of(image, heatmap))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"heatmap": np.zeros((2, 2))}, ValueError, "heatmap must have rank 1"),
        ({"width": 0}, ValueError, "width must be a positive integer"),
        ({"band_height": 2.5}, ValueError, "band_height must be a positive integer"),
        ({"signal": "ecg.csv"}, TypeError, r"signal must be a \(T, C\) signal array"),
        ({"signal": np.array([["a"]])}, TypeError, "signal must hold real numbers"),
    ],
)
def test_signal_with_heatmap_validates_its_arguments(kwargs, error, match):
    arguments = {"signal": np.zeros((8, 1)), "heatmap": np.zeros(4), **kwargs}
    with pytest.raises(error, match=match):
        signal_with_heatmap(**arguments)
