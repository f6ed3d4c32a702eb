"""camlens.audit end to end on a generated folder of demo images with masks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import camlens
from camlens import metrics
from camlens.audit import read_records
from camlens.cli import main
from camlens.demo import load_demo_model
from support.audit_data import CORRUPT, demo_model_file, write_demo_folder

COUNT = 20
BATCHED = 1e-3
"""How far a map of the audit (batches of 8, the last one padded) may be from the
same map computed in another batch. TensorFlow's CPU convolutions choose their
kernels by batch size and CPU: on an AVX2-only AMD EPYC one demo image's map
differs by 5e-4 between a batch of 8 and one of 20 (1e-6 on the CPUs of earlier
runs); a wrong image, target or order differs by tenths."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    return folder, write_demo_folder(folder, COUNT, seed=12)  # one image misclassified


@pytest.fixture(scope="module")
def model(demo_model):
    return demo_model


@pytest.fixture(scope="module")
def audited(demo, model, tmp_path_factory):
    folder, _ = demo
    out = tmp_path_factory.mktemp("audit") / "out"
    summary = camlens.audit(
        model, folder / "labels.csv", out, target="both", batch_size=8, shard_size=8, progress=False
    )
    return summary, read_records(out).to_pandas()


def test_one_row_per_image_and_target_and_failures_with_reasons(audited):
    summary, records = audited
    failed = records[records["error"].notna()]
    explained = records[records["error"].isna()]
    assert summary.images == COUNT + len(CORRUPT) and summary.failures == len(CORRUPT)
    assert len(explained) == 2 * COUNT and summary.rows == len(records)
    assert sorted(Path(p).name for p in failed["path"]) == sorted(CORRUPT)
    assert all("not an image" in reason for reason in failed["error"])
    assert not explained.duplicated(["index", "method", "target_kind"]).any()
    assert (summary.out_dir / "report.html").exists()


def test_pointing_game_and_energy_equal_camlens_metrics(audited, demo, model):
    _, data = demo
    _, records = audited
    rows = records[records["target_kind"] == "label"].sort_values("index")
    assert len(rows) == COUNT
    every_class = camlens.Explainer(model)(data.images, targets=list(range(5))).heatmaps
    maps = every_class[np.arange(COUNT), data.labels]  # (N, h, w), the label's map
    np.testing.assert_array_equal(
        rows["pointing_game"].astype(bool), metrics.pointing_game(maps, data.masks)
    )
    np.testing.assert_allclose(
        rows["energy"], metrics.energy_pointing_game(maps, data.masks), atol=BATCHED
    )


def test_maps_and_predictions_match_the_explainer(audited, demo, model):
    _, data = demo
    _, records = audited
    top = records[records["target_kind"] == "top"].sort_values("index")
    maps = camlens.Explainer(model)(data.images)
    heatmaps = np.stack([np.reshape(h, (16, 16)) for h in top["heatmap"]])
    np.testing.assert_allclose(heatmaps, maps.heatmaps[:, 0], atol=BATCHED)
    np.testing.assert_array_equal(top["predicted"], maps.outputs.argmax(-1))
    assert (top["predicted"] != top["label"]).any()  # so that label maps need their own pass
    np.testing.assert_array_equal(top["label"], data.labels)
    label_rows = records[records["target_kind"] == "label"].sort_values("index")
    np.testing.assert_array_equal(label_rows["target"], data.labels)
    explainer = camlens.Explainer(model)
    for n, cells in enumerate(label_rows["heatmap"]):
        expected = explainer(data.images[n : n + 1], int(data.labels[n])).heatmaps[0, 0]
        np.testing.assert_allclose(np.reshape(cells, (16, 16)), expected, atol=BATCHED)


@pytest.mark.parametrize("target", ["label", "both"])
def test_label_maps_of_many_different_wrong_labels_equal_one_image_calls(
    demo, model, tmp_path, target
):
    _, data = demo
    images = data.images[:12]
    predicted = camlens.Explainer(model)(images).outputs.argmax(-1)
    cycle = np.arange(12) % 5
    wrong = np.where(cycle == predicted, (cycle + 1) % 5, cycle)
    labels = np.where(np.arange(12) % 2 == 0, predicted, wrong)  # every other image wrong
    assert len(set(labels[1::2].tolist())) >= 3 and (labels[1::2] != predicted[1::2]).all()
    out = camlens.audit(
        model,
        list(zip(images, labels)),
        tmp_path / "out",
        target=target,
        methods=["gradcam", "eigencam"],
        batch_size=8,
        report=False,
        progress=False,
    ).out_dir
    records = read_records(out).to_pandas()
    for method in ("gradcam", "eigencam"):
        explainer = camlens.Explainer(model, method=method)
        rows = records[(records["method"] == method) & (records["target_kind"] == "label")]
        rows = rows.sort_values("index")
        np.testing.assert_array_equal(rows["target"], labels)
        np.testing.assert_array_equal(rows["predicted"], predicted)
        for n, (cells, score) in enumerate(zip(rows["heatmap"], rows["score"])):
            expected = explainer(images[n : n + 1], int(labels[n]))
            np.testing.assert_allclose(
                np.reshape(cells, (16, 16)), expected.heatmaps[0, 0], atol=BATCHED
            )
            np.testing.assert_allclose(score, expected.scores[0, 0], rtol=1e-4, atol=1e-6)


def test_the_model_is_unchanged_after_an_audit_and_after_a_refused_one(demo, tmp_path):
    folder, _ = demo
    model = load_demo_model()
    before = [w.copy() for w in model.get_weights()]  # BatchNorm statistics included
    camlens.audit(
        model,
        folder / "labels.csv",
        tmp_path / "out",
        target="both",
        metrics=True,
        steps=2,
        report=False,
        progress=False,
    )
    with pytest.raises(ValueError, match="different options"):
        camlens.audit(model, folder / "labels.csv", tmp_path / "out", progress=False)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    records = read_records(tmp_path / "out").to_pandas()
    explained = records[records["error"].isna()]
    assert len(explained) == 2 * COUNT
    assert explained["deletion_auc"].between(0, 1).all()
    assert explained["insertion_auc"].between(0, 1).all()


def test_folder_glob_and_parquet_sources(demo, model, tmp_path):
    folder, _ = demo
    by_folder = camlens.audit(
        model, folder / "images", tmp_path / "a", report=False, progress=False
    )
    assert by_folder.images == COUNT + len(CORRUPT) and by_folder.failures == len(CORRUPT)
    by_glob = camlens.audit(
        model, str(folder / "images" / "**" / "*.png"), tmp_path / "b", report=False, progress=False
    )
    assert by_glob.images == COUNT + 2  # the text file is a .jpg
    table = pd.read_csv(folder / "labels.csv").head(5)
    table["path"] = [str(folder / p) for p in table["path"]]
    table = table.drop(columns=["mask"]).assign(top=0, left=0, bottom=32, right=32)
    table.to_parquet(tmp_path / "paths.parquet")
    by_table = read_records(
        camlens.audit(
            model, tmp_path / "paths.parquet", tmp_path / "c", report=False, progress=False
        ).out_dir
    ).to_pandas()
    assert list(by_table["label"]) == list(table["label"])
    assert by_table["energy"].notna().all()  # the box stands in for a mask


def test_in_memory_pairs_and_arrays(demo, model, tmp_path):
    _, data = demo
    pairs = list(zip(data.images[:6], data.labels[:6]))
    records = read_records(
        camlens.audit(model, pairs, tmp_path / "pairs", target="label", progress=False).out_dir
    ).to_pandas()
    assert list(records["label"]) == list(data.labels[:6]) and records["path"].isna().all()
    wrong = np.zeros((2, 8, 8, 3), np.float32)
    summary = camlens.audit(model, wrong, tmp_path / "wrong", report=False, progress=False)
    assert summary.failures == 2


def test_changed_options_refuse_to_resume(demo, model, tmp_path):
    folder, _ = demo
    camlens.audit(model, folder / "labels.csv", tmp_path / "out", report=False, progress=False)
    with pytest.raises(ValueError, match="different options"):
        camlens.audit(
            model, folder / "labels.csv", tmp_path / "out", methods="layercam", progress=False
        )
    other = load_demo_model()
    other.get_layer("predictions").set_weights(
        [w * 2 for w in other.get_layer("predictions").get_weights()]
    )
    with pytest.raises(ValueError, match="different model"):
        camlens.audit(other, folder / "labels.csv", tmp_path / "out", progress=False)


def test_a_folder_with_other_files_is_refused(model, tmp_path, demo):
    folder, _ = demo
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        camlens.audit(model, folder / "images", tmp_path, progress=False)


def test_bad_arguments_name_themselves(model, demo, tmp_path):
    folder, _ = demo
    with pytest.raises(ValueError, match="target"):
        camlens.audit(model, folder, tmp_path / "x", target="everything")
    with pytest.raises(ValueError, match="batch_size"):
        camlens.audit(model, folder, tmp_path / "x", batch_size=0)
    with pytest.raises(ValueError, match="method"):
        camlens.audit(model, folder, tmp_path / "x", methods="nocam")
    with pytest.raises(ValueError, match="data"):
        camlens.audit(model, tmp_path / "nowhere", tmp_path / "x")
    with pytest.raises(ValueError, match="needs labels"):
        camlens.audit(model, folder / "images", tmp_path / "x", target="label")
    with pytest.raises(ValueError, match="metrics must be one of"):
        camlens.audit(model, folder, tmp_path / "x", metrics=["roadd"])
    with pytest.raises(ValueError, match="concepts must be a positive integer"):
        camlens.audit(model, folder, tmp_path / "x", concepts=-1)
    with pytest.raises(ValueError, match="at most the explained layer's channels"):
        camlens.audit(model, folder, tmp_path / "x2", concepts=1000, progress=False)


def test_concepts_are_the_same_whichever_pass_gives_their_arrays(demo, model, tmp_path):
    """The concepts' activations and class-logit gradients come from the maps' own
    pass (Grad-CAM of the output: a second group of slots; Grad-CAM++ explains the
    logit: its own gradients) or, where the first method takes no gradients, from
    a probe pass explaining the logit alone (tested against the analytic gradient
    in tests/backend/test_concepts.py): the same concepts from all three."""
    from camlens.audit.concept_results import read_concepts

    folder, _ = demo
    found = []
    for methods in (("gradcam",), ("gradcam++",), ("eigencam",)):
        out = tmp_path / methods[0]
        options = dict(methods=methods, concepts=2, target="label", batch_size=8)
        camlens.audit(model, folder / "labels.csv", out, progress=False, report=False, **options)
        records = read_records(out).to_pandas().sort_values("index")
        found.append((read_concepts(out)[1], np.stack(records["concepts"].dropna())))
    (reference, coefficients), others = found[-1], found[:-1]
    for per_class, theirs in others:
        assert sorted(per_class) == sorted(reference)
        for class_id, concepts in per_class.items():
            assert concepts.strongest == reference[class_id].strongest
            expected = reference[class_id]
            np.testing.assert_allclose(concepts.importance, expected.importance, rtol=1e-4)
            np.testing.assert_allclose(concepts.mean_maps, expected.mean_maps, rtol=1e-4)
        np.testing.assert_allclose(theirs, coefficients, rtol=1e-4)


def test_cli_audit_prints_the_summary(demo, tmp_path, capsys):
    folder, _ = demo
    status = main(
        [
            "audit",
            str(demo_model_file()),
            str(folder / "labels.csv"),
            "--out",
            str(tmp_path / "cli"),
            "--overlays",
            "--class-names",
            "circle,square,triangle,cross,star",
            "--concepts",
            "2",
            "--metrics",
            "road",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert f"audited {COUNT + len(CORRUPT)} images ({len(CORRUPT)} failed)" in out
    records = read_records(tmp_path / "cli").to_pandas()
    explained = records["error"].isna()
    assert records["road"][explained].notna().all() and records["deletion_auc"].isna().all()
    assert all(len(c) == 2 for c in records["concepts"][explained])
    assert "Concepts per class" in (tmp_path / "cli" / "report.html").read_text()
    assert len(list((tmp_path / "cli" / "overlays").glob("*.png"))) == COUNT
    assert "triangle" in (tmp_path / "cli" / "report.html").read_text()


def test_killed_run_resumes_without_losing_or_repeating_rows(tmp_path):
    folder = tmp_path / "data"
    write_demo_folder(folder, 64, seed=9, corrupt=False)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "camlens",
        "audit",
        str(demo_model_file()),
        str(folder / "labels.csv"),
        "--out",
        str(out),
        "--shard-size",
        "4",
        "--batch-size",
        "4",
        "--no-report",
    ]
    env = dict(os.environ, PYTHONPATH=str(Path(camlens.__file__).parents[1]))
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    manifest = out / "manifest.json"
    deadline = time.monotonic() + 900  # start-up is slow on a loaded machine
    while process.poll() is None:
        if manifest.exists() and len(json.loads(manifest.read_text())["shards"]) >= 2:
            break
        assert time.monotonic() < deadline, "the run wrote no 2 shards in 900 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    before = json.loads(manifest.read_text())["shards"]
    assert 2 <= len(before) < 16
    kept = {
        name: (out / "records.parquet" / e["file"]).stat().st_mtime_ns for name, e in before.items()
    }

    assert main(command[3:]) == 0  # the same command again, in this process
    records = read_records(out).to_pandas()
    assert len(records) == 64
    assert sorted(records["index"]) == list(range(64))
    assert not records.duplicated(["index", "method", "target_kind"]).any()
    after = json.loads(manifest.read_text())
    assert after["complete"] and len(after["shards"]) == 16
    for name, mtime in kept.items():  # finished shards were not redone
        assert (out / "records.parquet" / after["shards"][name]["file"]).stat().st_mtime_ns == mtime
    assert sorted(p.name for p in (out / "records.parquet").iterdir()) == sorted(
        e["file"] for e in after["shards"].values()
    )


def test_the_readme_flow_demo_folder_then_audit(tmp_path, capsys):
    folder = tmp_path / "shapes"
    assert main(["demo", "--folder", str(folder), "--count", "6"]) == 0
    assert len(list(folder.rglob("*.png"))) == 12 and (folder / "demo_model.keras").exists()
    status = main(
        [
            "audit",
            str(folder / "demo_model.keras"),
            str(folder / "labels.csv"),
            "--out",
            str(tmp_path / "audit"),
            "--target",
            "both",
        ]
    )
    assert status == 0
    assert "audited 6 images (0 failed) into 12 records" in capsys.readouterr().out


class _InterruptedOnce:
    """(image, label) pairs; the first pass stops with Ctrl-C after `stop` items."""

    def __init__(self, data, stop: int):
        self.data, self.stop, self.passes = data, stop, 0

    def __iter__(self):
        self.passes += 1
        for n, pair in enumerate(zip(self.data.images, self.data.labels)):
            if self.passes == 1 and n == self.stop:
                raise KeyboardInterrupt
            yield pair


def test_ctrl_c_keeps_the_finished_shards_and_the_rerun_completes(demo, model, tmp_path):
    _, data = demo
    pairs = _InterruptedOnce(data, stop=13)
    options = dict(batch_size=4, shard_size=4, report=False, progress=False)
    with pytest.raises(KeyboardInterrupt):
        camlens.audit(model, pairs, tmp_path / "out", **options)
    first = json.loads((tmp_path / "out" / "manifest.json").read_text())
    done = sorted(int(shard) for shard in first["shards"])
    assert done and done == list(range(len(done))) and len(done) < 4 and not first["complete"]
    summary = camlens.audit(model, pairs, tmp_path / "out", **options)
    assert summary.images == COUNT and summary.rows == COUNT
    assert sorted(read_records(tmp_path / "out").to_pandas()["index"]) == list(range(COUNT))


class _Pairs:
    """(image, label) pairs with no length; the first pass stops with Ctrl-C after `stop`."""

    def __init__(self, images, labels, stop=None):
        self.images, self.labels, self.stop, self.passes = images, labels, stop, 0

    def __iter__(self):
        self.passes += 1
        for n, pair in enumerate(zip(self.images, self.labels)):
            if self.passes == 1 and n == self.stop:
                raise KeyboardInterrupt
            yield pair


def test_a_stream_with_another_first_image_refuses_to_resume(demo, model, tmp_path):
    _, data = demo
    images, labels = data.images[:16], data.labels[:16]
    options = dict(batch_size=4, shard_size=4, report=False, progress=False)
    with pytest.raises(KeyboardInterrupt):  # after shard 0 (8 images are decoded ahead)
        camlens.audit(model, _Pairs(images, labels, stop=14), tmp_path / "out", **options)
    changed = images.copy()
    changed[0, 0, 0, 0] += 1  # one value of the first image
    with pytest.raises(ValueError, match=r"different data.*first item"):
        camlens.audit(model, _Pairs(changed, labels), tmp_path / "out", **options)
    relabelled = labels.copy()
    relabelled[0] = (labels[0] + 1) % 5
    with pytest.raises(ValueError, match="different data"):
        camlens.audit(model, _Pairs(images, relabelled), tmp_path / "out", **options)
    with pytest.raises(ValueError, match="different data"):  # a list has a length
        camlens.audit(model, list(zip(images, labels)), tmp_path / "out", **options)
    first = (tmp_path / "out" / "records.parquet" / "part-00000.parquet").stat().st_mtime_ns
    summary = camlens.audit(model, _Pairs(images, labels), tmp_path / "out", **options)
    assert summary.rows == 16
    assert sorted(read_records(summary.out_dir)["index"].to_pylist()) == list(range(16))
    assert (tmp_path / "out" / "records.parquet" / "part-00000.parquet").stat().st_mtime_ns == first


def test_a_one_pass_iterator_loses_no_item_to_its_fingerprint(demo, model, tmp_path):
    _, data = demo
    summary = camlens.audit(
        model,
        iter(list(zip(data.images[:5], data.labels[:5]))),
        tmp_path / "out",
        batch_size=4,
        report=False,
        progress=False,
    )
    records = read_records(summary.out_dir).to_pandas()
    assert list(records["index"]) == list(range(5)) and list(records["label"]) == list(
        data.labels[:5]
    )


def test_arrays_are_fingerprinted_by_their_bytes(demo, model, tmp_path):
    _, data = demo
    images = data.images[:4].copy()
    camlens.audit(model, images, tmp_path / "out", report=False, progress=False)
    images[3, 5, 5, 0] += 1
    with pytest.raises(ValueError, match="different data"):
        camlens.audit(model, images, tmp_path / "out", report=False, progress=False)
