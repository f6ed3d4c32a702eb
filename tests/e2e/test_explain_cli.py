"""`camlens explain MODEL IMAGE...`: one explainer for many images, --out-dir, --method all."""

import numpy as np
import pytest
from PIL import Image

import camlens
from camlens.files.images import image_to_doc
from camlens.methods import METHODS, class_methods
from support.cli import run
from support.models import functional_resnet, images


@pytest.fixture
def image_files(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for n in range(5):
        pixels = (images(1, seed=10 + n)[0] * 255).astype(np.uint8)
        path = folder / f"photo{n}.png"
        Image.fromarray(pixels).resize((40 + n, 30)).save(path)
        paths.append(path)
    return paths


def test_five_images_one_overlay_each(capsys, tmp_path, model_file, image_files):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    status, stdout, stderr = run(
        capsys, "explain", model_file, *image_files, "--out-dir", out_dir, "--layer", "conv1"
    )
    assert status == 0, stderr

    model = functional_resnet()
    for path in image_files:
        written = out_dir / f"{path.stem}-camlens.png"
        with Image.open(path) as original, Image.open(written) as overlay:
            assert overlay.size == original.size
            expl = camlens.explain_prediction(
                model, image_to_doc(original, model), image=original.convert("RGB"), layer="conv1"
            )
            expected = camlens.format_as_image(expl)
            np.testing.assert_array_equal(np.asarray(overlay), np.asarray(expected))
        assert f"{path}: class {expl.targets[0].target} " in stdout
        assert f"wrote {written}" in stdout


def test_method_all_writes_one_panel_per_method(capsys, tmp_path, model_file, image_files):
    out_dir = tmp_path / "panels"
    out_dir.mkdir()
    status, stdout, stderr = run(
        capsys,
        "explain",
        model_file,
        *image_files,
        "--out-dir",
        out_dir,
        "--method",
        "all",
        "--target",
        2,
    )
    assert status == 0, stderr

    for path in image_files:
        lines = [line for line in stdout.splitlines() if line.startswith(f"{path}: class 2 ")]
        assert [line.rsplit("method ", 1)[1] for line in lines] == [
            METHODS[name].title for name in class_methods()
        ]
        with (
            Image.open(path) as original,
            Image.open(out_dir / f"{path.stem}-camlens.png") as panel,
        ):
            width = max(original.width, 64)
            count = len(class_methods())
            assert panel.width == count * width + (count - 1) * 4
            assert panel.height > original.height


def test_out_dir_is_created_with_its_parents(capsys, tmp_path, model_file, image_files):
    out_dir = tmp_path / "new" / "overlays"
    status, _, stderr = run(capsys, "explain", model_file, *image_files[:2], "--out-dir", out_dir)
    assert status == 0, stderr
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{path.stem}-camlens.png" for path in image_files[:2]
    )


def test_images_beside_their_files_without_out_dir(capsys, model_file, image_files):
    status, _, stderr = run(capsys, "explain", model_file, *image_files[:2])
    assert status == 0, stderr
    for path in image_files[:2]:
        assert path.with_name(f"{path.stem}-camlens.png").exists()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--out", "x.png"], "--out names one file"),
        (["--out-dir", "{file}"], "--out-dir must be a folder"),
        (["--method", "nope"], "method must be one of"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(
    capsys, tmp_path, model_file, image_files, extra, words
):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    extra = [arg.format(file=a_file) for arg in extra]
    status, stdout, stderr = run(capsys, "explain", model_file, *image_files, *extra)
    assert status == 2 and words in stderr and len(stderr.splitlines()) == 1
    assert not any(p.name.endswith("-camlens.png") for p in image_files[0].parent.iterdir())


def test_a_bad_image_among_many_writes_nothing(capsys, tmp_path, model_file, image_files):
    broken = image_files[0].parent / "broken.png"
    broken.write_bytes(b"not a picture")
    status, _, stderr = run(capsys, "explain", model_file, *image_files, broken)
    assert status == 2 and "broken.png" in stderr
    assert not any(p.name.endswith("-camlens.png") for p in broken.parent.iterdir())


def test_two_images_with_the_same_name_are_refused(capsys, tmp_path, model_file, image_files):
    other = tmp_path / "elsewhere"
    other.mkdir()
    twin = other / image_files[0].name
    twin.write_bytes(image_files[0].read_bytes())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    status, _, stderr = run(
        capsys, "explain", model_file, image_files[0], twin, "--out-dir", out_dir
    )
    assert status == 2 and "would both be written" in stderr
