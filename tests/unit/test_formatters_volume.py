"""formatters/volume.py: a 3-D explanation drawn as a montage of slices."""

import io
import math

import matplotlib
import numpy as np
import pytest
from PIL import Image

from camlens import Explanation, Maps, TargetExplanation
from camlens.formatters import format_as_image, format_targets_as_image, slice_montage

VIRIDIS = matplotlib.colormaps["viridis"]
RDBU = matplotlib.colormaps["RdBu_r"]
GAP = 4  # pixels between two panels (compose_panels)
SIDE = 64  # slices 64x64: tiles at their own size, no wider than a panel


def tiles_of(picture, count, columns, side=SIDE):
    """Cut a montage of `count` square tiles of `side` pixels into (count, side, side, 3)."""
    array = np.asarray(picture.convert("RGB")).astype(int)
    rows = math.ceil(count / columns)
    assert array.shape[1] == columns * side + (columns - 1) * GAP
    panel_height = (array.shape[0] - (rows - 1) * GAP) / rows
    assert panel_height == int(panel_height) and panel_height > side  # room for the captions
    tiles = []
    for k in range(count):
        left = (k % columns) * (side + GAP)
        top = (k // columns) * (int(panel_height) + GAP)
        tiles.append(array[top : top + side, left : left + side])
    return np.stack(tiles)


def montage(volume, heatmap=None, **kwargs):
    """`slice_montage` with tiles at the slices' own size."""
    return slice_montage(volume, heatmap, min_tile=SIDE, **kwargs)


def blend(color, alpha, under):
    """A colormap's colour (bytes, truncated) at opacity `alpha` (a byte) over `under`."""
    color = (np.asarray(color[:3]) * 255).astype(int)
    alpha = int(alpha * 255) / 255
    return alpha * color + (1 - alpha) * np.asarray(under)


def expl_of(image, *heatmaps):
    targets = [TargetExplanation(target=k, score=0.5, heatmap=h) for k, h in enumerate(heatmaps)]
    return Explanation(estimator="toy", method="Grad-CAM", image=image, targets=targets)


def test_montage_shows_evenly_spaced_slices_each_scaled_by_the_volumes_range():
    # slice d holds the value d: its grey level tells which slice a tile shows
    volume = np.broadcast_to(np.arange(20.0)[:, None, None, None], (20, SIDE, SIDE, 1))
    tiles = tiles_of(montage(volume, max_slices=6, columns=3), 6, 3)
    expected = np.round(np.linspace(0, 19, 6)).astype(int)  # 0, 4, 8, 11, 15, 19
    for tile, d in zip(tiles, expected):
        np.testing.assert_array_equal(tile, round(d / 19 * 255))


def test_all_slices_shown_when_few_and_the_grid_is_near_square():
    volume = np.random.default_rng(0).random((5, SIDE, SIDE, 1))
    picture = montage(volume)
    tiles = tiles_of(picture, 5, 3)  # ceil(sqrt(5)) columns
    pixels = np.round((volume[..., 0] - volume.min()) / np.ptp(volume) * 255)
    for tile, slice_pixels in zip(tiles, pixels):
        np.testing.assert_array_equal(tile, np.repeat(slice_pixels[..., None], 3, axis=-1))


def test_a_map_hot_in_the_last_depth_cells_colours_only_the_last_tiles():
    gray = 100
    volume = np.full((16, SIDE, SIDE, 1), float(gray))
    volume[0, 0, 0] = 0.0  # the range: 0..255 shows gray as itself
    volume[0, 0, 1] = 255.0
    heatmap = np.zeros((4, 8, 8))
    heatmap[3] = 1.0
    tiles = tiles_of(montage(volume, heatmap, alpha_limit=0.65), 16, 4)
    # Trilinear: the last cell covers slices 12..15, reaching down to slice 10.
    for d in range(10):
        np.testing.assert_array_equal(tiles[d][2:, 2:], gray)
    for d in range(10, 16):
        assert np.abs(tiles[d][2:, 2:] - gray).max() > 5, d
    # slices 14 and 15 lie past the last cell's centre: the map is 1 there
    for d in (14, 15):
        np.testing.assert_allclose(
            tiles[d][2:, 2:],
            np.broadcast_to(blend(VIRIDIS(1.0), 0.65, [gray] * 3), (SIDE - 2, SIDE - 2, 3)),
            atol=1.5,
        )


def test_each_tile_overlays_its_heatmap_slice_in_place():
    volume = np.zeros((3, SIDE, SIDE, 1))
    volume[:, ::2] = 1.0  # stripes: 0 and 255
    heatmap = np.zeros((3, 2, 2))
    heatmap[0, 0, 0] = 1.0  # slice 0: top-left
    heatmap[2, 1, 1] = 1.0  # slice 2: bottom-right
    tiles = tiles_of(montage(volume, heatmap, alpha_limit=None), 3, 2)
    top = (np.asarray(VIRIDIS(1.0)[:3]) * 255).astype(int)
    np.testing.assert_allclose(tiles[0][0, 0], top, atol=1)
    np.testing.assert_array_equal(tiles[0][-1, -1], 0)  # odd row: black, no heat
    np.testing.assert_array_equal(tiles[1][[0, -1], [0, -1]], [[255] * 3, [0] * 3])
    np.testing.assert_allclose(tiles[2][-1, -1], top, atol=1)
    np.testing.assert_array_equal(tiles[2][0, 0], 255)


def test_rgb_volumes_show_their_frames_in_colour():
    video = np.zeros((2, SIDE, SIDE, 3))
    video[0, ..., 0] = 1.0  # a red frame
    video[1, ..., 2] = 1.0  # a blue one
    tiles = tiles_of(montage(video), 2, 2)
    np.testing.assert_array_equal(tiles[0], np.broadcast_to([255, 0, 0], tiles[0].shape))
    np.testing.assert_array_equal(tiles[1], np.broadcast_to([0, 0, 255], tiles[1].shape))
    two_channels = np.zeros((1, SIDE, SIDE, 2))
    two_channels[..., 0, 0, 0] = 1.0  # grey from channel 0 only
    two_channels[..., 1] = 7.0
    tile = tiles_of(montage(two_channels), 1, 1)[0]
    assert (tile[0, 0] == 255).all() and (tile[1:, 1:] == 0).all()


def test_signed_maps_are_drawn_with_the_diverging_colormap():
    volume = np.zeros((2, SIDE, SIDE, 1))
    heatmap = np.stack([np.full((2, 2), -1.0), np.full((2, 2), 1.0)])
    tiles = tiles_of(montage(volume, heatmap, alpha_limit=None), 2, 2)
    np.testing.assert_allclose(
        tiles[0][5, 5], (np.asarray(RDBU(0.0)[:3]) * 255).astype(int), atol=1
    )
    np.testing.assert_allclose(
        tiles[1][5, 5], (np.asarray(RDBU(1.0)[:3]) * 255).astype(int), atol=1
    )
    assert tiles[0][5, 5, 2] > tiles[0][5, 5, 0] + 50  # blue
    # a map that is 0 in one slice and 0.5 in another, forced signed: 0 stays clear
    forced = tiles_of(
        montage(
            volume,
            np.stack([np.zeros((2, 2)), np.full((2, 2), 0.5)]),
            signed=True,
            alpha_limit=None,
        ),
        2,
        2,
    )
    np.testing.assert_array_equal(forced[0], 0)
    np.testing.assert_allclose(forced[1][5, 5], blend(RDBU(0.75), 0.5, [0, 0, 0]), atol=1.5)


def test_small_slices_are_enlarged_to_readable_tiles():
    volume = np.zeros((4, 16, 32, 1))
    volume[:, :8] = 1.0  # the top half of each slice white
    picture = slice_montage(volume, min_tile=96, columns=4)
    # 32 wide -> x3 (96x48 tiles)
    array = np.asarray(picture.convert("RGB")).astype(int)
    assert array.shape[1] == 4 * 96 + 3 * GAP
    assert (array[:24, :96] == 255).all() and (array[24:48, :96] == 0).all()


def test_format_as_image_draws_a_3d_explanation_as_a_montage():
    volume = np.random.default_rng(1).random((6, SIDE, SIDE, 1))
    heatmap = np.random.default_rng(2).random((3, 4, 4))
    picture = format_as_image(expl_of(volume, heatmap))
    assert picture.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(slice_montage(volume, heatmap)))
    plain = format_as_image(expl_of(volume))
    assert plain.size == picture.size
    np.testing.assert_array_equal(np.asarray(plain), np.asarray(slice_montage(volume)))


def test_panels_and_notebook_display_of_a_3d_explanation():
    volume = np.zeros((4, SIDE, SIDE, 1))
    front, back = np.zeros((2, 2, 2)), np.zeros((2, 2, 2))
    front[0], back[1] = 1.0, 1.0
    expl = expl_of(volume, front, back)
    panels = format_targets_as_image(expl, target_names=["front", "back"])
    one = slice_montage(volume, front)
    assert panels.width == 2 * one.width + GAP and panels.height > one.height
    array = np.asarray(panels).astype(int)
    first_tile = (slice(0, SIDE), slice(0, SIDE))
    second_panel_first_tile = (slice(0, SIDE), slice(one.width + GAP, one.width + GAP + SIDE))
    assert array[first_tile].max() > 50  # "front" is hot in slice 0
    np.testing.assert_array_equal(array[second_panel_first_tile], 0)  # "back" is not
    with Image.open(io.BytesIO(expl._repr_png_())) as png:
        assert png.size == panels.size
    assert expl._repr_html_().count("data:image/png;base64,") == 2


def test_to_explanations_keeps_volumes_as_float_arrays():
    maps = Maps(np.zeros((1, 2, 2, 2, 2)), np.zeros((1, 2), int), np.ones((1, 2)), np.zeros((1, 2)))
    volumes = np.ones((1, 4, SIDE, SIDE, 1), np.float32)
    (expl,) = maps.to_explanations(volumes)
    assert isinstance(expl.image, np.ndarray) and expl.image.shape == (4, SIDE, SIDE, 1)
    assert format_as_image(expl).size == slice_montage(volumes[0]).size
    (image_expl,) = Maps(
        np.zeros((1, 1, 2, 2)), np.zeros((1, 1), int), np.ones((1, 1)), np.zeros((1, 2))
    ).to_explanations(np.zeros((1, 8, 8, 3)))
    assert isinstance(image_expl.image, Image.Image)  # 2-D inputs as before


VOLUME = np.zeros((2, 8, 8, 1))
MAP = np.zeros((2, 2, 2))


@pytest.mark.parametrize(
    "draw, error, match",
    [
        (
            lambda: format_as_image(expl_of(Image.new("L", (8, 8)), MAP)),
            ValueError,
            r"expl.image must be a \(D, H, W, C\) volume.*PIL",
        ),
        (
            lambda: format_as_image(expl_of(np.zeros((8, 8, 1)), MAP)),
            ValueError,
            r"expl.image must be a \(D, H, W, C\).*\(8, 8, 1\)",
        ),
        (
            lambda: format_as_image(expl_of(VOLUME, np.zeros((4, 2, 2)))),
            ValueError,
            r"expl.targets\[0\].heatmap must be no larger.*\(2, 8, 8\)",
        ),
        (
            lambda: format_as_image(expl_of(VOLUME, np.full((2, 2, 2), np.nan))),
            ValueError,
            r"values in \[0, 1\]",
        ),
        (lambda: slice_montage(VOLUME, np.zeros((2, 2))), ValueError, "heatmap must have rank 3"),
        (
            lambda: slice_montage(VOLUME, MAP, max_slices=0),
            ValueError,
            "max_slices must be a positive integer",
        ),
        (
            lambda: slice_montage(VOLUME, MAP, columns=1.5),
            ValueError,
            "columns must be a positive integer",
        ),
        (
            lambda: slice_montage([[1]], MAP),
            TypeError,
            r"volume must be a \(D, H, W, C\) volume array",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_argument(draw, error, match):
    with pytest.raises(error, match=match):
        draw()
