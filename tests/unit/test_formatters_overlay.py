"""formatters/overlay.py beyond ELI5: `overlay` on arrays, signed maps drawn diverging."""

import matplotlib
import numpy as np
import pytest
from PIL import Image

import camlens
from camlens import Explanation, TargetExplanation
from camlens.formatters import format_as_image, format_targets_as_image

GRAY = (128, 128, 128)


def signed_heatmap():
    """4x4: -1 in the left half, +1 in the right half, 0 in the bottom row."""
    heatmap = np.zeros((4, 4))
    heatmap[:3, :2], heatmap[:3, 2:] = -1.0, 1.0
    return heatmap


def expl_of(image, *heatmaps):
    targets = [TargetExplanation(target=k, score=0.5, heatmap=h) for k, h in enumerate(heatmaps)]
    return Explanation(estimator="toy", image=image, targets=targets)


def test_signed_maps_are_blue_where_negative_red_where_positive_clear_at_zero():
    image = Image.new("RGB", (4, 4), GRAY)
    out = np.asarray(
        format_as_image(
            expl_of(image, signed_heatmap()), resampling_filter=Image.NEAREST, alpha_limit=None
        )
    ).astype(int)
    negative, positive, zero = out[0, 0], out[0, 3], out[3, 1]
    assert negative[2] > negative[0] + 50  # blue
    assert positive[0] > positive[2] + 50  # red
    np.testing.assert_array_equal(zero, GRAY + (255,))  # opacity |0| = 0


def test_signed_map_blend_follows_the_diverging_colormap_and_magnitude():
    heatmap = np.array([[-0.5, 0.25]])
    image = Image.new("RGB", (2, 1), GRAY)
    out = np.asarray(
        format_as_image(expl_of(image, heatmap), resampling_filter=Image.NEAREST, alpha_limit=None)
    ).astype(float)
    colors = matplotlib.colormaps["RdBu_r"]((heatmap + 1) / 2)[0, :, :3] * 255
    for j, alpha in enumerate(np.abs(heatmap[0])):
        # colormap bytes truncated, alpha truncated to a byte, then composited
        expected = colors[j] * alpha + np.array(GRAY) * (1 - alpha)
        np.testing.assert_allclose(out[0, j, :3], expected, atol=2.5)


def test_unit_maps_keep_eli5s_colormap():
    heatmap = np.array([[0.0, 1.0]])
    image = Image.new("RGB", (2, 1), GRAY)
    out = np.asarray(
        format_as_image(expl_of(image, heatmap), resampling_filter=Image.NEAREST, alpha_limit=None)
    )
    viridis_top = np.array(matplotlib.colormaps["viridis"](1.0)[:3]) * 255
    np.testing.assert_allclose(out[0, 1, :3], viridis_top, atol=1)


def test_signed_values_beyond_one_are_refused():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        format_as_image(expl_of(Image.new("RGB", (4, 4)), np.full((2, 2), -1.5)))


def test_panels_of_one_signed_map_are_all_diverging():
    image = Image.new("RGB", (4, 4), GRAY)
    unit = np.zeros((4, 4))
    unit[0, 0] = 0.5  # alone, viridis: a green-blue cell
    panels = format_targets_as_image(expl_of(image, unit, signed_heatmap()), alpha_limit=None)
    drawn = np.asarray(camlens.overlay(image, unit, signed=True, alpha_limit=None).convert("RGB"))
    # the first panel's hot cell is drawn red (diverging), not viridis
    left = (64 - 4) // 2  # a 4-pixel image centred in a panel 64 pixels wide
    top_left = np.asarray(panels)[:4, left : left + 4]
    assert top_left[0, 0, 0] > top_left[0, 0, 2]
    np.testing.assert_array_equal(top_left, drawn)


def test_overlay_takes_arrays():
    pixels = np.full((6, 8, 3), 128, np.uint8)
    heatmap = np.zeros((3, 4))
    heatmap[0, 0] = 1.0
    out = camlens.overlay(pixels, heatmap, resampling_filter=Image.NEAREST, alpha_limit=None)
    assert out.mode == "RGBA" and out.size == (8, 6)
    drawn = np.asarray(out)
    viridis_top = np.array(matplotlib.colormaps["viridis"](1.0)[:3]) * 255
    np.testing.assert_allclose(drawn[:2, :2, :3].reshape(-1, 3), [viridis_top] * 4, atol=1)
    np.testing.assert_array_equal(drawn[2:, 2:, :3], 128)
    grayscale = camlens.overlay(np.full((6, 8), 10.0), heatmap)
    assert grayscale.size == (8, 6)


@pytest.mark.parametrize(
    "image, error, message",
    [
        ("picture.png", TypeError, "image must be a PIL.Image.Image or a numpy array"),
        (np.zeros((6, 8, 2)), ValueError, r"Received: image.shape=\(6, 8, 2\)"),
        (np.zeros((6,)), ValueError, "image must be an"),
    ],
)
def test_overlay_validates_the_image(image, error, message):
    with pytest.raises(error, match=message):
        camlens.overlay(image, np.zeros((2, 2)))


def test_panels_refuse_a_text_heatmap_with_a_clear_error():
    with pytest.raises(TypeError, match="must hold real numbers"):
        format_targets_as_image(expl_of(Image.new("RGB", (4, 4)), np.array([["a"]])))
