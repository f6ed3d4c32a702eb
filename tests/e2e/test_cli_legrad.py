"""`camlens evaluate --methods ...,legrad` on a saved vision transformer."""

import numpy as np
import pytest
from PIL import Image

from support.cli import run


def test_evaluate_takes_legrad_by_name(capsys, tmp_path, vit):
    model_file = tmp_path / "vit.keras"
    vit.save(model_file)
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name in ("a.png", "b.png"):
        pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)
    status, stdout, stderr = run(
        capsys,
        "evaluate",
        "--model",
        model_file,
        "--images",
        folder,
        "--methods",
        "gradcam,legrad",
        "--steps",
        2,
    )
    assert status == 0, stderr
    rows = [line.split(" | ")[0].strip("| ") for line in stdout.splitlines()[2:5]]
    assert rows == ["gradcam", "legrad", "random"]
    legrad = next(line for line in stdout.splitlines() if line.startswith("| legrad |"))
    assert "nan" not in legrad and ("(pass)" in legrad or "(FAIL)" in legrad)


@pytest.mark.parametrize("text", ["all", "gradcam,legrad"])
def test_the_default_list_leaves_legrad_out(text):
    from camlens.cli.parser import method_names
    from camlens.methods import class_methods

    names = method_names(text)
    assert ("legrad" in (class_methods() if names is None else names)) == (text != "all")
