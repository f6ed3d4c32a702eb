"""The audit of a keras-hub classifier decodes files through the model's own
preprocessor, as `camlens explain` does: its maps equal `Explainer(model,
preprocess=model.preprocessor)` on the same decoded images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import camlens
from camlens import metrics
from camlens.audit import read_records
from camlens.cli import main
from camlens.files.images import load_image
from support.hub import vgg_with_preprocessor

pytest.importorskip("keras_hub")

SIZES = [(48, 64), (64, 48), (48, 64), (64, 64)]  # (height, width) of the files


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Four RGB files of different sizes and a table with a box on the first."""
    folder = tmp_path_factory.mktemp("hub")
    rng = np.random.default_rng(4)
    for n, (height, width) in enumerate(SIZES):
        pixels = rng.integers(0, 256, (height, width, 3), np.uint8)
        Image.fromarray(pixels).save(folder / f"{n}.png")
    table = pd.DataFrame({"path": [f"{n}.png" for n in range(len(SIZES))], "label": [1, 2, 3, 4]})
    box = pd.DataFrame({"top": [0], "left": [8], "bottom": [48], "right": [32]})
    pd.concat([table, box], axis=1).to_csv(folder / "table.csv", index=False)
    return folder


def raw_images(folder):
    return [np.asarray(load_image(folder / f"{n}.png"), np.float32) for n in range(len(SIZES))]


def test_maps_equal_the_explainer_through_the_preprocessor(folder, tmp_path):
    model = vgg_with_preprocessor(image_size=(64, 64))
    summary = camlens.audit(
        model,
        folder / "table.csv",
        tmp_path / "out",
        target="both",
        overlays=True,
        batch_size=3,
        shard_size=2,
        report=False,
        progress=False,
    )
    records = read_records(summary.out_dir).to_pandas().sort_values(["index", "target_kind"])
    assert summary.images == len(SIZES) and summary.failures == 0
    explainer = camlens.Explainer(model, preprocess=model.preprocessor)
    for n, raw in enumerate(raw_images(folder)):
        rows = records[records["index"] == n]
        (label_row,), (top_row,) = (
            rows[rows["target_kind"] == k].itertuples() for k in ("label", "top")
        )
        assert label_row.target == n + 1
        expected = explainer(raw[None], targets=[top_row.target, n + 1])
        shape = (label_row.heatmap_height, label_row.heatmap_width)
        assert shape == expected.heatmaps.shape[2:] and shape[0] > 2
        for row, k in ((top_row, 0), (label_row, 1)):
            np.testing.assert_allclose(
                np.reshape(row.heatmap, shape), expected.heatmaps[0, k], atol=1e-5
            )
            np.testing.assert_allclose(row.score, expected.scores[0, k], rtol=1e-5, atol=1e-6)
        assert top_row.predicted == expected.outputs[0].argmax()
        assert (top_row.image_height, top_row.image_width) == SIZES[n]  # the file's own size
        overlay = Image.open(tmp_path / "out" / "overlays" / f"{n:06d}-gradcam-top.png")
        assert overlay.size == (SIZES[n][1], SIZES[n][0])  # drawn over the image as given

    # The box (rows 0..48, columns 8..32 of the 48x64 file) through the preprocessor:
    # the centre crop keeps columns 8..56, so the box is the crop's left half,
    # columns 0..32 of the 64x64 input.
    first = records[(records["index"] == 0) & (records["target_kind"] == "label")].iloc[0]
    heatmap = np.reshape(first["heatmap"], (first["heatmap_height"], first["heatmap_width"]))
    placed = np.zeros((1, 64, 64), bool)
    placed[:, :, :32] = True
    np.testing.assert_allclose(
        first["energy"], metrics.energy_pointing_game(heatmap[None], placed)[0], rtol=1e-6
    )
    assert first["pointing_game"] == metrics.pointing_game(heatmap[None], placed)[0]
    assert records[records["index"] > 0]["energy"].isna().all()


def test_size_resizes_the_files_for_a_preprocessor_that_keeps_their_size(folder, tmp_path, capsys):
    model = vgg_with_preprocessor(image_size=None)
    with pytest.raises(ValueError, match=r"size=\(height, width\)"):
        camlens.audit(model, folder, tmp_path / "refused", progress=False)
    assert not (tmp_path / "refused").exists()  # refused before anything was written
    model_file = tmp_path / "hub.keras"
    model.save(model_file)
    assert (
        main(
            [
                "audit",
                str(model_file),
                str(folder),
                "--out",
                str(tmp_path / "cli"),
                "--size",
                "32x40",
                "--no-report",
            ]
        )
        == 0
    )
    assert f"audited {len(SIZES)} images (0 failed)" in capsys.readouterr().out
    records = read_records(tmp_path / "cli").to_pandas().sort_values("index")
    resized = np.stack(
        [
            np.asarray(load_image(folder / f"{n}.png").resize((40, 32), Image.BILINEAR), np.float32)
            for n in range(len(SIZES))
        ]
    )
    expected = camlens.Explainer(model, preprocess=model.preprocessor)(resized)
    heatmaps = np.stack(
        [np.reshape(cells, expected.heatmaps.shape[2:]) for cells in records["heatmap"]]
    )
    np.testing.assert_allclose(heatmaps, expected.heatmaps[:, 0], atol=1e-5)
    assert list(zip(records["image_height"], records["image_width"])) == SIZES


def test_in_memory_images_go_through_the_preprocessor(folder, tmp_path):
    model = vgg_with_preprocessor(image_size=(64, 64))
    raw = np.stack([image for image in raw_images(folder) if image.shape[:2] == (48, 64)])
    records = read_records(
        camlens.audit(model, raw, tmp_path / "out", report=False, progress=False).out_dir
    ).to_pandas()
    expected = camlens.Explainer(model, preprocess=model.preprocessor)(raw)
    heatmaps = np.stack(
        [np.reshape(cells, expected.heatmaps.shape[2:]) for cells in records["heatmap"]]
    )
    np.testing.assert_allclose(heatmaps, expected.heatmaps[:, 0], atol=1e-5)
    assert set(zip(records["image_height"], records["image_width"])) == {(48, 64)}
