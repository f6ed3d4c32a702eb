"""The command line: success paths, and bad input answered with exit 2 and one line."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import camlens
from camlens.cli import main
from support.cli import run
from support.models import CLASSES, SIZE


def test_explain_writes_the_overlay_at_the_original_size(capsys, tmp_path, model_file, image_file):
    out = tmp_path / "overlay.png"
    status, stdout, stderr = run(
        capsys, "explain", model_file, image_file, "--target", 3, "--out", out
    )

    assert status == 0, stderr
    assert "class 3" in stdout and "score" in stdout and str(out) in stdout
    with Image.open(out) as written:
        assert written.size == (48, 36) and written.mode == "RGBA"
        assert np.asarray(written).std() > 0


def test_explain_default_target_and_layer(capsys, tmp_path, model_file, image_file):
    status, stdout, _ = run(capsys, "explain", model_file, image_file, "--layer", "conv1")
    assert status == 0
    assert "layer conv1" in stdout and "method Grad-CAM" in stdout
    assert (tmp_path / "photo-camlens.png").exists()


def test_python_dash_m_works(tmp_path, model_file, image_file):
    out = tmp_path / "m.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "camlens",
            "explain",
            str(model_file),
            str(image_file),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.exists()


@pytest.mark.parametrize(
    "case, words",
    [
        ("missing_model", "model file not found"),
        ("missing_image", "image file not found"),
        ("model_not_a_model", "not a Keras model file"),
        ("model_wrong_suffix", "must be a .keras or .h5"),
        ("image_not_an_image", "not an image"),
        ("image_truncated", "not an image"),
        ("unknown_layer", "No layer named"),
        ("target_out_of_range", "out of range"),
        ("out_is_a_folder", "is a directory"),
        ("unknown_method", "method must be one of"),
        ("decompression_bomb", "too large to decode safely"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys, monkeypatch, tmp_path, model_file, image_file, case, words
):
    model, image, extra = model_file, image_file, []
    out = tmp_path / "out.png"
    if case == "missing_model":
        model = tmp_path / "nope.keras"
    elif case == "missing_image":
        image = tmp_path / "nope.png"
    elif case == "model_not_a_model":
        model = tmp_path / "fake.keras"
        model.write_bytes(b"not a zip file")
    elif case == "model_wrong_suffix":
        model = tmp_path / "model.txt"
        model.write_text("hello")
    elif case == "image_not_an_image":
        image = tmp_path / "fake.png"
        image.write_text("not an image")
    elif case == "image_truncated":
        image = tmp_path / "cut.png"
        image.write_bytes(image_file.read_bytes()[:200])
    elif case == "unknown_layer":
        extra = ["--layer", "nope"]
    elif case == "target_out_of_range":
        extra = ["--target", CLASSES]
    elif case == "out_is_a_folder":
        out = tmp_path / "a-folder.png"
        out.mkdir()
    elif case == "unknown_method":
        extra = ["--method", "magic"]
    elif case == "decompression_bomb":
        image = tmp_path / "huge.png"
        Image.new("L", (3000, 3000)).save(image)  # 9 Mpx, over the limit set below
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)

    status, stdout, stderr = run(capsys, "explain", model, image, "--out", out, *extra)

    assert status == 2
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert words in stderr
    assert "Traceback" not in stderr
    assert not out.is_file()
    assert not list(tmp_path.glob(".*.tmp"))  # no partial file left behind


def test_lambda_model_is_refused_unless_unsafe(capsys, tmp_path, image_file):
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = keras.layers.Conv2D(2, 3, name="conv")(x)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)

    status, _, stderr = run(capsys, "explain", path, image_file, "--out", tmp_path / "a.png")
    assert status == 2 and "--unsafe" in stderr

    status, _, stderr = run(
        capsys, "explain", path, image_file, "--unsafe", "--out", tmp_path / "b.png"
    )
    assert status == 0, stderr


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["explain"])
    assert raised.value.code == 2
    with pytest.raises(SystemExit) as raised:
        main(["demo", "--count", "0"])
    assert raised.value.code == 2


def test_demo_writes_the_picture(capsys, tmp_path):
    out = tmp_path / "demo.png"
    status, stdout, stderr = run(capsys, "demo", "--out", out, "--count", 3, "--method", "layercam")
    assert status == 0, stderr
    assert str(out) in stdout
    with Image.open(out) as picture:
        assert picture.width > 3 * 64 and picture.height > 64
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_evaluate_prints_the_table_and_writes_csv_and_plot(capsys, tmp_path):
    table, plot = tmp_path / "scores.csv", tmp_path / "curves.png"
    status, stdout, stderr = run(
        capsys,
        "evaluate",
        "--methods",
        "gradcam,eigencam,refinecam(gradcam)",
        "--layers",
        "block2_relu,last_conv",
        "--count",
        3,
        "--steps",
        4,
        "--csv",
        table,
        "--plot",
        plot,
    )
    assert status == 0, stderr
    assert "| gradcam |" in stdout and "| eigencam |" in stdout and "| random |" in stdout
    assert "| refinecam(gradcam) |" in stdout
    assert table.read_text().startswith("method,pointing_game")
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_on_a_user_model_and_folder(capsys, tmp_path, model_file, image_file):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(image_file.read_bytes())
    status, stdout, stderr = run(
        capsys,
        "evaluate",
        "--model",
        model_file,
        "--images",
        folder,
        "--methods",
        "gradcam",
        "--steps",
        2,
    )
    assert status == 0, stderr
    assert "| gradcam | - | - |" in stdout  # no masks: no localization


@pytest.mark.parametrize(
    "argv, words",
    [
        (["evaluate", "--methods", "magic"], "method must be one of"),
        (["evaluate", "--methods", "refinecam(gradcam)"], "pass them as layers"),
        (["evaluate", "--layers", "last_conv"], "layers= is for RefineCAM's rows"),
        (["evaluate", "--model", "nope.keras", "--images", "."], "model file not found"),
        (["evaluate", "--csv", "{file}/t.csv"], "{file}"),
    ],
)
def test_evaluate_bad_input(capsys, tmp_path, argv, words):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    argv = [arg.format(file=a_file) for arg in argv]
    words = words.format(file=a_file)
    status, _, stderr = run(capsys, *argv)
    assert status == 2 and words in stderr and len(stderr.strip().splitlines()) == 1


def test_explain_uses_a_keras_hub_models_own_preprocessor(capsys, tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    from support import hub as hub_models

    model = hub_models.vit()
    converter = keras_hub.layers.ViTImageConverter(image_size=(64, 64), scale=1 / 255.0)
    model.preprocessor = keras_hub.models.ViTImageClassifierPreprocessor(image_converter=converter)
    path = tmp_path / "vit.keras"
    model.save(path)
    photo = tmp_path / "raw.png"
    pixels = np.random.default_rng(1).integers(0, 256, (300, 200, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(photo)
    status, out, err = run(capsys, "explain", path, photo, "--out", tmp_path / "o.png")
    assert status == 0, err
    assert "layer transformer_block_1" in out
    with Image.open(tmp_path / "o.png") as written:
        assert written.size == (200, 300)  # drawn over the raw image
    # the same map as the preprocessed image explained directly
    doc = keras.ops.convert_to_numpy(model.preprocessor(pixels[None].astype(np.float32)))
    expected = camlens.explain_prediction(model, doc)
    assert f"class {expected.targets[0].target} " in out


def test_explain_a_model_with_none_spatial_dimensions_needs_size(capsys, tmp_path, image_file):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path / "any_size.keras"
    keras.Model(inputs, keras.layers.Dense(CLASSES)(x)).save(path)
    status, _, err = run(capsys, "explain", path, image_file)
    assert status == 2 and "--size HxW" in err
    status, out, err = run(
        capsys, "explain", path, image_file, "--size", "20x24", "--out", tmp_path / "o.png"
    )
    assert status == 0, err
    assert "layer conv" in out
    with pytest.raises(SystemExit) as raised:
        main(["explain", str(path), str(image_file), "--size", "20by24"])
    assert raised.value.code == 2 and "HxW" in capsys.readouterr().err


def test_a_blank_map_is_reported_as_one_warning_line(capsys, model_file, image_file):
    # the file's 0..255 pixels saturate this model's softmax: every gradient is zero
    status, _, stderr = run(capsys, "explain", model_file, image_file, "--layer", "conv1")
    assert status == 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("camlens explain: warning: The gradients")
    assert "layer 'conv1'" in lines[0]
