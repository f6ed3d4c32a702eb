"""Pixel-level tests of camlens.formatters on synthetic images and heatmaps."""

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from camlens import Explanation, TargetExplanation
from camlens.formatters import (
    expand_heatmap,
    explanation_to_html,
    format_as_image,
    format_targets_as_image,
    heatmap_to_image,
)

VIRIDIS = matplotlib.colormaps["viridis"]


def make_image(width=16, height=12, seed=0):
    """An opaque RGB image of random pixels."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def make_expl(image, *heatmaps, scores=None):
    scores = scores or [0.5] * len(heatmaps)
    targets = [
        TargetExplanation(target=k, score=s, heatmap=h)
        for k, (h, s) in enumerate(zip(heatmaps, scores))
    ]
    return Explanation(estimator="toy", method="Grad-CAM", image=image, targets=targets)


def quadrant_heatmap():
    """A 4x4 heatmap that is 1 in its top-left 2x2 quadrant and 0 elsewhere."""
    heatmap = np.zeros((4, 4))
    heatmap[:2, :2] = 1.0
    return heatmap


def rgba(image):
    return np.asarray(image.convert("RGBA")).astype(int)


# --- format_as_image ----------------------------------------------------------


def test_output_is_rgba_of_the_image_size():
    image = make_image(17, 9)
    out = format_as_image(make_expl(image, np.full((3, 5), 0.5)))
    assert out.mode == "RGBA"
    assert out.size == (17, 9)


def test_alpha_limit_zero_returns_the_image_unchanged():
    image = make_image()
    out = format_as_image(make_expl(image, np.random.default_rng(1).random((4, 4))), alpha_limit=0)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image.convert("RGBA")))


def test_zero_heatmap_leaves_the_image_unchanged():
    image = make_image()
    out = format_as_image(make_expl(image, np.zeros((3, 3))))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image.convert("RGBA")))


def test_hot_quadrant_changes_only_that_quadrant_with_the_hand_computed_blend():
    image = make_image(16, 12)
    alpha_limit = 0.65
    out = rgba(
        format_as_image(
            make_expl(image, quadrant_heatmap()),
            resampling_filter=Image.NEAREST,
            alpha_limit=alpha_limit,
        )
    )
    original = rgba(image)

    # Outside the top-left quadrant (8x6 pixels) nothing changes.
    outside = np.ones((12, 16), dtype=bool)
    outside[:6, :8] = False
    np.testing.assert_array_equal(out[outside], original[outside])

    # Inside, every pixel is the alpha blend of viridis(1) over the image.
    # As in ELI5, [0, 1] floats become bytes by truncation (x * 255 -> int).
    color = (np.asarray(VIRIDIS(1.0)[:3]) * 255).astype(int)
    alpha = int(alpha_limit * 255) / 255  # the heatmap value 1 is capped at alpha_limit
    expected = alpha * color + (1 - alpha) * original[:6, :8, :3]
    np.testing.assert_allclose(out[:6, :8, :3], expected, atol=1)
    assert (out[..., 3] == 255).all()
    assert not np.array_equal(out[:6, :8], original[:6, :8])


def test_partial_heatmap_value_sets_alpha_and_color():
    image = Image.new("RGB", (4, 4), (0, 0, 0))
    out = rgba(
        format_as_image(
            make_expl(image, np.full((2, 2), 0.4)), resampling_filter=Image.NEAREST, alpha_limit=1.0
        )
    )
    # Over black, the result is the colour scaled by its alpha (0.4).
    expected = 0.4 * np.asarray(VIRIDIS(0.4)[:3]) * 255
    np.testing.assert_allclose(out[..., :3], np.broadcast_to(expected, (4, 4, 3)), atol=1.5)


@pytest.mark.parametrize("alpha_limit", [0.1, 0.3, 0.65, 1.0])
def test_alpha_never_exceeds_alpha_limit(alpha_limit):
    # A fully transparent image keeps the heatmap's own alpha in the output.
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    heatmap = np.random.default_rng(2).random((5, 5))
    heatmap[0, 0] = 1.0
    out = rgba(format_as_image(make_expl(image, heatmap), alpha_limit=alpha_limit))
    assert out[..., 3].max() <= alpha_limit * 255 + 1e-9
    assert out[..., 3].max() >= int(alpha_limit * 255) - 1


def test_alpha_limit_none_applies_no_cap():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    out = rgba(format_as_image(make_expl(image, np.ones((2, 2))), alpha_limit=None))
    assert (out[..., 3] == 255).all()


def test_only_the_first_target_is_drawn():
    image = make_image(8, 8)
    first = format_as_image(make_expl(image, quadrant_heatmap()))
    both = format_as_image(make_expl(image, quadrant_heatmap(), np.ones((4, 4))))
    np.testing.assert_array_equal(np.asarray(first), np.asarray(both))


def test_colormap_by_name_and_callable():
    image = Image.new("RGB", (4, 4), (0, 0, 0))
    expl = make_expl(image, np.ones((2, 2)))
    by_name = rgba(format_as_image(expl, colormap="jet", alpha_limit=1.0))
    red = rgba(
        format_as_image(
            expl,
            colormap=lambda h: np.stack([np.ones_like(h), 0 * h, 0 * h, h], -1),
            alpha_limit=1.0,
        )
    )
    jet_top = np.asarray(matplotlib.colormaps["jet"](1.0)[:3]) * 255
    np.testing.assert_allclose(by_name[0, 0, :3], jet_top, atol=1)
    np.testing.assert_array_equal(red[0, 0], [255, 0, 0, 255])


def test_no_targets_gives_the_image_back_as_rgba():
    image = make_image()
    out = format_as_image(Explanation(estimator="toy", image=image))
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image.convert("RGBA")))


def test_input_image_is_not_modified():
    image = make_image()
    before = np.asarray(image).copy()
    format_as_image(make_expl(image, np.ones((2, 2))))
    np.testing.assert_array_equal(np.asarray(image), before)


@pytest.mark.parametrize(
    "alpha_limit, error, message",
    [
        ("0.5", TypeError, "alpha_limit must be a number"),
        (True, TypeError, "alpha_limit must be a number"),
        (1.5, ValueError, r"alpha_limit must be in \[0, 1\]. Received: alpha_limit=1.5"),
        (-0.1, ValueError, r"Received: alpha_limit=-0.1"),
        (float("nan"), ValueError, "alpha_limit must be in"),
    ],
)
def test_alpha_limit_validation(alpha_limit, error, message):
    with pytest.raises(error, match=message):
        format_as_image(make_expl(make_image(), np.ones((2, 2))), alpha_limit=alpha_limit)


def test_expl_validation():
    with pytest.raises(TypeError, match="expl must be a camlens Explanation"):
        format_as_image({"image": make_image()})
    missing_image = "expl.image must be a PIL.Image.Image. Received: expl.image=None"
    with pytest.raises(TypeError, match=missing_image):
        format_as_image(make_expl(None, np.ones((2, 2))))
    with pytest.raises(TypeError, match="heatmap must be a numpy.ndarray"):
        format_as_image(make_expl(make_image(), None))
    with pytest.raises(ValueError, match=r"heatmap must have values in \[0, 1\]"):
        format_as_image(make_expl(make_image(), np.full((2, 2), 2.0)))
    with pytest.raises(ValueError, match="must have rank 2"):
        format_as_image(make_expl(make_image(), np.ones((2, 2, 4, 1))))
    # a rank-3 heatmap is a volume's: it needs a (D, H, W, C) array, not a picture
    with pytest.raises(ValueError, match=r"expl.image must be a \(D, H, W, C\) volume"):
        format_as_image(make_expl(make_image(), np.ones((2, 2, 4))))


def test_bad_colormap():
    expl = make_expl(make_image(), np.ones((2, 2)))
    with pytest.raises(TypeError, match="colormap must be"):
        format_as_image(expl, colormap=3)
    with pytest.raises(ValueError, match="colormap must be"):
        format_as_image(expl, colormap="no-such-colormap")
    with pytest.raises(ValueError, match="colormap must return an RGBA array"):
        format_as_image(expl, colormap=lambda h: h)


# --- heatmap_to_image and expand_heatmap -------------------------------------


@pytest.mark.parametrize("shape, mode", [((3, 5), "L"), ((3, 5, 3), "RGB"), ((3, 5, 4), "RGBA")])
def test_heatmap_to_image_modes(shape, mode):
    out = heatmap_to_image(np.ones(shape))
    assert out.mode == mode
    assert out.size == (5, 3)
    assert np.asarray(out).min() == 255


def test_heatmap_to_image_scales_by_255_and_truncates():
    out = np.asarray(heatmap_to_image(np.array([[0.0, 0.5, 0.999, 1.0]])))
    np.testing.assert_array_equal(out, [[0, 127, 254, 255]])


@pytest.mark.parametrize(
    "heatmap, error, message",
    [
        ([[0.5]], TypeError, "heatmap must be a numpy.ndarray. Received: heatmap of type list"),
        (np.array([["a"]]), TypeError, "heatmap must hold real numbers"),
        (np.ones(4), ValueError, r"heatmap must have rank 2 or 3. Received: heatmap.shape=\(4,\)"),
        (np.ones((2, 2, 2, 2)), ValueError, "must have rank 2 or 3"),
        (np.ones((2, 2, 2)), ValueError, "3 \\(RGB\\) or 4 \\(RGBA\\) channels"),
        (np.ones((0, 3)), ValueError, "must not be empty"),
        (
            np.array([[0.5, 1.01]]),
            ValueError,
            r"values in \[0, 1\]. Received: heatmap with min=0.5 and max=1.01",
        ),
        (np.array([[-0.01, 0.5]]), ValueError, r"values in \[0, 1\]"),
        (np.array([[np.nan, 0.5]]), ValueError, r"values in \[0, 1\]"),
    ],
)
def test_heatmap_to_image_validation(heatmap, error, message):
    with pytest.raises(error, match=message):
        heatmap_to_image(heatmap)


def test_expand_heatmap_shape_and_range():
    heatmap = np.random.default_rng(3).random((7, 7))
    out = expand_heatmap(heatmap, make_image(30, 20))
    assert out.shape == (20, 30)
    assert out.min() >= 0 and out.max() <= 1


def test_expand_heatmap_nearest_repeats_cells():
    heatmap = np.array([[0.0, 1.0], [1.0, 0.0]])
    out = expand_heatmap(heatmap, make_image(4, 6), resampling_filter=Image.NEAREST)
    expected = np.kron(heatmap, np.ones((3, 2)))
    np.testing.assert_array_equal(out, expected)


def test_expand_heatmap_keeps_channels():
    out = expand_heatmap(np.ones((2, 3, 4)), make_image(9, 5))
    assert out.shape == (5, 9, 4)


def test_expand_heatmap_validation():
    with pytest.raises(TypeError, match="image must be a PIL.Image.Image"):
        expand_heatmap(np.ones((2, 2)), np.zeros((4, 4, 3)))
    with pytest.raises(TypeError, match="heatmap must be a numpy.ndarray"):
        expand_heatmap([[1.0]], make_image())
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        expand_heatmap(np.full((2, 2), 3.0), make_image())


def test_private_alpha_helpers_follow_eli5():
    from camlens.formatters.draw import _cap_alpha, _update_alpha

    alpha = np.array([[0.2, 0.9], [1.0, 0.0]])
    np.testing.assert_array_equal(_cap_alpha(alpha, 0.5), [[0.2, 0.5], [0.5, 0.0]])
    assert _cap_alpha(alpha, None) is alpha
    with pytest.raises(ValueError, match="alpha_limit must be in"):
        _cap_alpha(alpha, 2)

    colored = np.zeros((2, 2, 4))
    colored[..., 3] = 0.8
    _update_alpha(colored, starting_array=alpha, alpha_limit=0.5)  # in place, from the values
    np.testing.assert_array_equal(colored[..., 3], [[0.2, 0.5], [0.5, 0.0]])
    _update_alpha(colored, alpha_limit=0.3)  # no starting array: cap the existing alpha
    np.testing.assert_array_equal(colored[..., 3], [[0.2, 0.3], [0.3, 0.0]])


# --- format_targets_as_image and explanation_to_html -------------------------


def caption_strip(canvas, image_height):
    return np.asarray(canvas)[image_height:]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_one_panel_per_target(k):
    image = make_image(80, 40)
    heatmaps = [np.full((4, 4), 0.8)] * k
    canvas = format_targets_as_image(make_expl(image, *heatmaps))
    assert canvas.mode == "RGB"
    assert canvas.width == k * 80 + (k - 1) * 4
    assert canvas.height > 40

    # Each panel is the overlay of its own target, composited on white.
    for j in range(k):
        panel = np.asarray(canvas)[:40, j * 84 : j * 84 + 80]
        single = format_as_image(make_expl(image, heatmaps[j])).convert("RGB")
        np.testing.assert_array_equal(panel, np.asarray(single))


def test_panels_differ_per_target():
    image = make_image(64, 32)
    flipped = quadrant_heatmap()[::-1, ::-1].copy()
    canvas = np.asarray(format_targets_as_image(make_expl(image, quadrant_heatmap(), flipped)))
    assert not np.array_equal(canvas[:32, :64], canvas[:32, 68:132])


def test_captions_are_drawn_under_each_panel():
    image = make_image(80, 30)
    expl = make_expl(image, np.ones((2, 2)), np.zeros((2, 2)), scores=[0.9731, 0.01])
    canvas = format_targets_as_image(expl, target_names=["cat", "dog"])
    strip = caption_strip(canvas, 30)
    assert strip.shape[0] >= 20  # two lines of text: the name and the score
    for j in range(2):
        panel_strip = strip[:, j * 84 : j * 84 + 80]
        assert (panel_strip < 128).any(), f"no caption text under panel {j}"
    # The gap between the panels stays background.
    assert (strip[:, 80:84] == 255).all()


def test_caption_text_depends_on_names():
    image = make_image(80, 30)
    expl = make_expl(image, np.ones((2, 2)), scores=[0.5])
    a = np.asarray(format_targets_as_image(expl, target_names=["cat"]))
    b = np.asarray(format_targets_as_image(expl, target_names={0: "a much longer name"}))
    c = np.asarray(format_targets_as_image(expl))
    np.testing.assert_array_equal(a[:30], b[:30])
    assert not np.array_equal(a[30:], b[30:])
    assert not np.array_equal(a[30:], c[30:])


def test_tiny_images_get_readable_panels():
    canvas = format_targets_as_image(make_expl(make_image(8, 8), np.ones((2, 2)), np.ones((2, 2))))
    assert canvas.width == 2 * 64 + 4


def test_target_names_validation():
    expl = make_expl(make_image(), np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(TypeError, match="target_names must be a sequence"):
        format_targets_as_image(expl, target_names="cat")
    with pytest.raises(ValueError, match="target_names has no name for class 1"):
        format_targets_as_image(expl, target_names=["cat"])
    with pytest.raises(ValueError, match="target_names has no name for class 1"):
        explanation_to_html(expl, target_names={0: "cat"})


def test_format_kwargs_are_passed_on():
    image = make_image(64, 32)
    expl = make_expl(image, np.ones((2, 2)))
    canvas = np.asarray(format_targets_as_image(expl, alpha_limit=0))
    np.testing.assert_array_equal(canvas[:32], np.asarray(image))


def decode_images(text):
    found = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def test_html_embeds_png_and_escaped_names():
    image = make_image(20, 10)
    expl = make_expl(image, np.ones((2, 2)), np.zeros((2, 2)), scores=[0.9731, 0.25])
    text = explanation_to_html(expl, target_names={0: "<cat & co>", 1: 'say "dog"'})
    pictures = decode_images(text)
    assert len(pictures) == 2
    assert all(p.format == "PNG" and p.size == (20, 10) for p in pictures)
    assert "&lt;cat &amp; co&gt;" in text
    assert "<cat" not in text
    assert "say &quot;dog&quot;" in text
    assert "0.973" in text and "0.250" in text
    assert "Grad-CAM" in text


def test_html_shows_error_and_handles_missing_image():
    expl = Explanation(estimator="toy", error="model has <no> conv layer")
    text = explanation_to_html(expl)
    assert "model has &lt;no&gt; conv layer" in text
    assert "data:image/png" not in text


# --- properties ---------------------------------------------------------------

shapes = st.tuples(st.integers(1, 9), st.integers(1, 9))
unit_heatmaps = shapes.flatmap(
    lambda s: hnp.arrays(np.float64, s, elements=st.floats(0, 1, allow_nan=False))
)
sizes = st.tuples(st.integers(1, 40), st.integers(1, 40))
out_of_range = st.one_of(
    st.floats(min_value=1, exclude_min=True, allow_nan=False, allow_infinity=True),
    st.floats(max_value=0, exclude_max=True, allow_nan=False, allow_infinity=True),
    st.just(float("nan")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    heatmap=unit_heatmaps,
    size=sizes,
    alpha_limit=st.floats(0, 1),
    resampling_filter=st.sampled_from([Image.NEAREST, Image.BILINEAR, Image.LANCZOS]),
)
def test_property_any_unit_heatmap_gives_rgba_of_image_size(
    heatmap, size, alpha_limit, resampling_filter
):
    image = Image.new("RGB", size, (10, 200, 30))
    out = format_as_image(
        make_expl(image, heatmap), resampling_filter=resampling_filter, alpha_limit=alpha_limit
    )
    assert out.mode == "RGBA"
    assert out.size == size
    assert (np.asarray(out)[..., 3] == 255).all()
    expanded = expand_heatmap(heatmap, image, resampling_filter=resampling_filter)
    assert expanded.shape == (size[1], size[0])
    assert expanded.min() >= 0 and expanded.max() <= 1


@settings(max_examples=60, deadline=None)
@given(heatmap=unit_heatmaps, bad=out_of_range, data=st.data())
def test_property_values_outside_unit_interval_raise(heatmap, bad, data):
    i = data.draw(st.integers(0, heatmap.shape[0] - 1))
    j = data.draw(st.integers(0, heatmap.shape[1] - 1))
    heatmap = heatmap.copy()
    heatmap[i, j] = bad
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        heatmap_to_image(heatmap)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expand_heatmap(heatmap, Image.new("RGB", (4, 4)))
    if -1 <= bad < 0:  # a map that keeps negative evidence: drawn, diverging
        assert format_as_image(make_expl(Image.new("RGB", (4, 4)), heatmap)).size == (4, 4)
        return
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        format_as_image(make_expl(Image.new("RGB", (4, 4)), heatmap))


@settings(max_examples=30, deadline=None)
@given(
    alpha_limit=st.one_of(
        st.floats(max_value=0, exclude_max=True), st.floats(min_value=1, exclude_min=True)
    )
)
def test_property_alpha_limit_outside_unit_interval_raises(alpha_limit):
    with pytest.raises(ValueError, match="alpha_limit must be in"):
        format_as_image(make_expl(make_image(4, 4), np.ones((2, 2))), alpha_limit=alpha_limit)


# --- the module stays backend-free -------------------------------------------


def test_import_pulls_in_no_backend_or_pyplot():
    # Load camlens.formatters without running camlens/__init__.py (which
    # imports the Keras side of the package): the package itself must be
    # importable with numpy, Pillow and matplotlib's colormaps only, and must
    # not import the result objects (which import it: no cycle).
    import camlens.formatters

    package_dir = str(Path(camlens.formatters.__file__).resolve().parent.parent)
    code = (
        "import sys, types; "
        f"pkg = types.ModuleType('camlens'); pkg.__path__ = [{package_dir!r}]; "
        "sys.modules['camlens'] = pkg; "
        "import camlens.formatters; "
        "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch', 'matplotlib.pyplot', "
        "'camlens.explanation') "
        "if m in sys.modules]; "
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
