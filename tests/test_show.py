"""show_prediction and the notebook display of explanations."""

import io

import numpy as np
from PIL import Image

import camlens
from conftest import images

NAMES = ["zero", "one", "two", "three", "four"]


def test_show_prediction_is_eli5s_overlay(resnet):
    picture = camlens.show_prediction(resnet, images())
    expected = camlens.format_as_image(camlens.explain_prediction(resnet, images()))
    assert picture.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(expected))


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
