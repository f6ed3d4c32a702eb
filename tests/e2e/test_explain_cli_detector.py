"""`camlens explain detector.keras photo.png [--box Y1,X1,Y2,X2 --target K]`: a
detector's picture, one panel per detection with its box, equal to the library's."""

import numpy as np
import pytest
from PIL import Image

import camlens
from camlens.files.images import image_to_doc
from camlens.targets import Box
from support import detectors
from support.cli import run


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("detector") / "detector.keras"
    detectors.centernet().save(path)
    return path


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    pixels = (detectors.images(1, size=64, seed=5)[0] * 255).astype(np.uint8)
    Image.fromarray(pixels).resize((96, 80)).save(path)  # 80 rows, 96 columns
    return path


def _library_picture(model, photo, targets):
    with Image.open(photo) as original:
        picture = original.convert("RGB")
        doc = image_to_doc(original, model)
    expl = camlens.explain_prediction(model, doc, image=picture, targets=targets)
    return expl, camlens.format_targets_as_image(expl)


def test_a_panel_per_detection_of_the_models_own_decoding(capsys, tmp_path, detector_file, photo):
    out = tmp_path / "detections.png"
    status, stdout, stderr = run(capsys, "explain", detector_file, photo, "--out", out)
    assert status == 0, stderr

    expl, expected = _library_picture(detectors.centernet(), photo, None)
    assert expl.targets, "the test detector finds something in the photo"
    with Image.open(out) as written:
        np.testing.assert_array_equal(np.asarray(written), np.asarray(expected))
    for k, target in enumerate(expl.targets):
        assert f"detection {k}: class {target.target} confidence {target.proba:.4f}" in stdout


def test_box_in_the_photos_pixels_explains_its_detection(capsys, tmp_path, detector_file, photo):
    model = detectors.centernet()
    first = _library_picture(model, photo, None)[0].targets[0]
    top, left, bottom, right = first.box  # input pixels (64x64) -> photo pixels (80x96)
    box = [top * 80 / 64, left * 96 / 64, bottom * 80 / 64, right * 96 / 64]
    out = tmp_path / "box.png"
    argv = ["explain", detector_file, photo, "--out", out, "--target", first.target]
    status, stdout, stderr = run(capsys, *argv, "--box", ",".join(f"{v:.6f}" for v in box))
    assert status == 0, stderr

    expl, expected = _library_picture(model, photo, [Box(first.box, class_id=first.target)])
    np.testing.assert_allclose(expl.targets[0].box, first.box, atol=1e-3)
    with Image.open(out) as written:
        np.testing.assert_array_equal(np.asarray(written), np.asarray(expected))
    assert stdout.count("detection ") == 1


def test_box_arguments_are_checked(capsys, detector_file, photo):
    with pytest.raises(SystemExit):  # argparse's own exit, status 2
        run(capsys, "explain", detector_file, photo, "--box", "1,2,3")
    assert "must be Y1,X1,Y2,X2, four numbers" in capsys.readouterr().err
    status, _, stderr = run(capsys, "explain", detector_file, photo, "--box", "70,90,79,95")
    assert status == 2 and "No prediction matches Box(" in stderr


def test_box_score_explains_iou_and_confidence(capsys, tmp_path, detector_file, photo):
    model = detectors.centernet()
    first = _library_picture(model, photo, None)[0].targets[0]
    top, left, bottom, right = first.box
    box = [top * 80 / 64, left * 96 / 64, bottom * 80 / 64, right * 96 / 64]
    out = tmp_path / "box.png"
    argv = ["explain", detector_file, photo, "--out", out, "--box-score", "iou+confidence"]
    status, _, stderr = run(capsys, *argv, "--box", ",".join(f"{v:.6f}" for v in box))
    assert status == 0, stderr

    scored = Box(first.box, score="iou+confidence")
    _, expected = _library_picture(model, photo, [scored])
    _, by_logit = _library_picture(model, photo, [Box(first.box)])
    with Image.open(out) as written:
        np.testing.assert_array_equal(np.asarray(written), np.asarray(expected))
        assert not np.array_equal(np.asarray(written), np.asarray(by_logit))
