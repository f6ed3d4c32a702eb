"""files.py: images read as a viewer shows them; models; atomic writes."""

import os
import stat
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from camlens.files.images import FileProblem, image_to_doc, load_image
from camlens.files.writing import write_atomically, write_png

WHITE = 255


def rgb_model(height=4, width=6, channels=3):
    inputs = keras.Input((height, width, channels))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(pooled))


def gradient_pixels(height=4, width=6):
    """(H, W, 3) uint8: every pixel different, so a turn or a flip shows."""
    values = np.arange(height * width * 3).reshape(height, width, 3) * 3
    return values.astype(np.uint8)


@pytest.mark.parametrize(
    "orientation, upright",
    [
        (3, lambda a: np.rot90(a, 2)),  # stored upside down
        (6, lambda a: np.rot90(a, -1)),  # to be turned 90 degrees clockwise
        (8, lambda a: np.rot90(a, 1)),  # to be turned 90 degrees anticlockwise
        (2, lambda a: a[:, ::-1]),  # mirrored
    ],
)
def test_exif_orientation_is_applied(tmp_path, orientation, upright):
    pixels = gradient_pixels()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path, exif=exif)
    loaded = load_image(path)
    np.testing.assert_array_equal(np.asarray(loaded), upright(pixels))


def test_16_bit_grayscale_is_scaled_by_its_range(tmp_path):
    values = np.array([[1000, 2000, 3000], [1500, 2500, 1000]], np.uint16)
    path = tmp_path / "scan.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    loaded = load_image(path)
    assert loaded.mode == "L"
    expected = np.round((values - 1000.0) / 2000.0 * 255)
    np.testing.assert_array_equal(np.asarray(loaded), expected)


@pytest.mark.parametrize("dtype, mode", [(np.float32, "F"), (np.int32, "I")])
def test_32_bit_images_are_scaled_by_their_range(tmp_path, dtype, mode):
    values = np.array([[-2, 0, 6], [2, 4, -2]], dtype)
    path = tmp_path / "deep.tiff"
    Image.fromarray(values, mode=mode).save(path)
    loaded = load_image(path)
    expected = np.round((values.astype(float) + 2) / 8 * 255)
    np.testing.assert_array_equal(np.asarray(loaded), expected)


def test_constant_deep_image_is_black_not_an_error(tmp_path):
    path = tmp_path / "flat.png"
    Image.fromarray(np.full((3, 3), 700, np.uint16)).save(path)
    np.testing.assert_array_equal(np.asarray(load_image(path)), 0)


def test_cmyk_becomes_rgb(tmp_path):
    cmyk = np.zeros((2, 2, 4), np.uint8)
    cmyk[0, 0] = (0, 255, 255, 0)  # red ink: no cyan, full magenta and yellow
    path = tmp_path / "print.tiff"
    Image.fromarray(cmyk, mode="CMYK").save(path)
    doc = image_to_doc(load_image(path), rgb_model(2, 2))
    np.testing.assert_array_equal(doc[0, 0, 0], (255, 0, 0))
    np.testing.assert_array_equal(doc[0, 1, 1], (WHITE, WHITE, WHITE))


def test_palette_transparency_shows_white(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 200, 30, 40] + [0] * 762)
    image.putpixel((0, 0), 0)  # palette entry 0, black, made transparent
    image.putpixel((1, 0), 1)
    path = tmp_path / "icon.png"
    image.save(path, transparency=0)
    loaded = load_image(path)
    assert loaded.mode == "RGBA"
    doc = image_to_doc(loaded, rgb_model(1, 2))
    np.testing.assert_array_equal(doc[0, 0], [[WHITE] * 3, [200, 30, 40]])


def test_gray_with_alpha_shows_on_white(tmp_path):
    la = np.array([[[40, 0], [40, 255], [40, 128]]], np.uint8)
    path = tmp_path / "mask.png"
    Image.fromarray(la, mode="LA").save(path)
    loaded = load_image(path)
    gray = image_to_doc(loaded, rgb_model(1, 3, channels=1))[0, 0, :, 0]
    np.testing.assert_allclose(gray, [255, 40, 40 * 128 / 255 + 255 * 127 / 255], atol=1)
    rgb = image_to_doc(loaded, rgb_model(1, 3))[0, 0]
    np.testing.assert_allclose(rgb[:, 0], gray)


def test_animated_image_uses_the_first_frame_and_says_so(tmp_path):
    frames = [Image.new("RGB", (3, 3), color) for color in ((250, 0, 0), (0, 0, 250))]
    path = tmp_path / "blink.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    with pytest.warns(UserWarning, match="2 frames.*first"):
        loaded = load_image(path)
    red, _, blue = np.asarray(loaded.convert("RGB"))[1, 1]
    assert red > 200 and blue < 50


def test_still_image_gives_no_warning(tmp_path):
    path = tmp_path / "still.png"
    Image.fromarray(gradient_pixels()).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(path)


def test_write_atomically_replaces_whole_and_keeps_the_umask(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    write_atomically(path, b"new contents")
    assert path.read_bytes() == b"new contents"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_atomically_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")

    class Broken:
        def __len__(self):
            return 1

        def __buffer__(self, flags):
            raise OSError("disk full")

    with pytest.raises((OSError, TypeError)):
        write_atomically(path, Broken())
    assert path.read_bytes() == b"old"
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_png_refuses_folders_as_a_value_error(tmp_path):
    picture = Image.new("RGB", (2, 2))
    with pytest.raises(FileProblem, match="is a directory"):
        write_png(picture, tmp_path)
    write_png(picture, tmp_path / "missing" / "x.png")  # the folder is created
    assert Image.open(tmp_path / "missing" / "x.png").size == (2, 2)
    write_png(picture, tmp_path / "x.png")
    assert Image.open(tmp_path / "x.png").size == (2, 2)
