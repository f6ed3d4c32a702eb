"""show_prediction and the notebook display of explanations."""

import io

import matplotlib
import numpy as np
from PIL import Image

import camlens
from camlens.formatters import signal_with_heatmap, slice_montage
from support.models import images, rank_cnn

GAP = 4  # pixels between two panels (compose_panels)

NAMES = ["zero", "one", "two", "three", "four"]


def composite(image, heatmap, colors):
    """ELI5's blend in numpy: colour at opacity |heatmap| over the image, cell for cell."""
    alpha = np.abs(heatmap)[..., None]
    return colors[..., :3] * 255 * alpha + np.asarray(image, float) * (1 - alpha)


def test_show_prediction_is_eli5s_overlay(resnet):
    # conv1 is 12x12 like the image: with NEAREST each cell is one pixel.
    image = Image.new("RGB", (12, 12), (90, 120, 150))
    picture = camlens.show_prediction(
        resnet,
        images(),
        image=image,
        layer="conv1",
        resampling_filter=Image.NEAREST,
        alpha_limit=None,
    )
    heatmap = camlens.Explainer(resnet, layer="conv1")(images()).heatmaps[0, 0]
    assert picture.mode == "RGBA" and picture.size == (12, 12)
    expected = composite(image, heatmap, matplotlib.colormaps["viridis"](heatmap))
    np.testing.assert_allclose(np.asarray(picture)[..., :3], expected, atol=2.5)


def test_show_prediction_draws_negative_evidence_diverging(resnet):
    image = Image.new("RGB", (12, 12), (128, 128, 128))
    picture = camlens.show_prediction(
        resnet,
        images(),
        image=image,
        layer="conv1",
        relu=False,
        resampling_filter=Image.NEAREST,
        alpha_limit=None,
    )
    heatmap = camlens.Explainer(resnet, layer="conv1", relu=False)(images()).heatmaps[0, 0]
    assert heatmap.min() < -0.2 and heatmap.max() > 0.2  # both kinds of evidence
    drawn = np.asarray(picture)[..., :3].astype(float)
    expected = composite(image, heatmap, matplotlib.colormaps["RdBu_r"]((heatmap + 1) / 2))
    np.testing.assert_allclose(drawn, expected, atol=2.5)
    strongest_negative = np.unravel_index(np.argmin(heatmap), heatmap.shape)
    assert drawn[strongest_negative][2] > drawn[strongest_negative][0]  # blue
    other = camlens.show_prediction(
        resnet,
        images(),
        image=image,
        layer="conv1",
        relu=False,
        resampling_filter=Image.NEAREST,
        alpha_limit=None,
        diverging_colormap="PuOr_r",
    )
    expected = composite(image, heatmap, matplotlib.colormaps["PuOr_r"]((heatmap + 1) / 2))
    np.testing.assert_allclose(np.asarray(other)[..., :3].astype(float), expected, atol=2.5)


def test_explanation_with_negative_evidence_displays_itself(resnet):
    expl = camlens.explain_prediction(resnet, images(), targets=[1, 3], relu=False)
    assert min(t.heatmap.min() for t in expl.targets) < 0
    with Image.open(io.BytesIO(expl._repr_png_())) as picture:
        assert picture.width > 2 * expl.image.width
    assert "data:image/png;base64," in expl._repr_html_()


def test_show_prediction_routes_format_arguments(resnet):
    plain = Image.new("RGB", (30, 30), (10, 200, 30))
    picture = camlens.show_prediction(resnet, images(), image=plain, alpha_limit=0, layer="conv1")
    np.testing.assert_array_equal(np.asarray(picture.convert("RGB")), np.asarray(plain))


def test_show_prediction_with_several_targets_and_names(resnet):
    one = camlens.show_prediction(resnet, images(), targets=[1])
    three = camlens.show_prediction(resnet, images(), targets=[1, 2, 3], target_names=NAMES)
    assert three.mode == "RGB"
    assert three.width > 2 * one.width


def test_explanation_displays_itself(resnet):
    expl = camlens.explain_prediction(resnet, images(), targets=[2, 4], target_names=NAMES)
    png = expl._repr_png_()
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.width > 2 * expl.image.width
    page = expl._repr_html_()
    assert "two" in page and "four" in page and "data:image/png;base64," in page


def test_show_prediction_draws_a_conv1d_models_explanation():
    model = rank_cnn((40, 2), classes=3)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 40, 2)).astype(np.float32)
    expl = camlens.explain_prediction(model, x, targets=[0, 2])
    assert expl.image.shape == (40, 2) and expl.targets[0].heatmap.shape == (20,)
    picture = camlens.show_prediction(model, x, targets=[0])
    expected = signal_with_heatmap(x[0], expl.targets[0].heatmap)
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(expected))
    with Image.open(io.BytesIO(expl._repr_png_())) as png:
        assert png.width == 2 * expected.width + 4


def test_show_prediction_draws_a_conv3d_models_explanation():
    model = rank_cnn((4, 8, 8, 1), classes=2)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 4, 8, 8, 1)).astype(np.float32)
    expl = camlens.explain_prediction(model, x, targets=[0, 1])
    assert expl.image.shape == (4, 8, 8, 1) and expl.targets[0].heatmap.shape == (2, 4, 4)
    picture = camlens.show_prediction(model, x, targets=[1])
    expected = slice_montage(x[0], expl.targets[1].heatmap)
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(expected))
    with Image.open(io.BytesIO(expl._repr_png_())) as png:
        assert png.width == 2 * expected.width + GAP
