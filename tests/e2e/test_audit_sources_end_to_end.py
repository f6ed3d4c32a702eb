"""`camlens audit` on images where users keep them: a tree of class folders, a
Parquet file of encoded images, a Hugging Face data set (in memory and saved with
`save_to_disk`) give the records of the same images listed in a CSV with their
labels, and the report names the classes."""

from __future__ import annotations

import shutil

import datasets
import numpy as np
import pandas as pd
import pytest

import camlens
from camlens.audit import read_records
from camlens.cli import main
from camlens.demo import CLASS_NAMES, write_folder
from support.audit_data import demo_model_file

COUNT = 10
NAMES = ",".join(CLASS_NAMES)  # the demo model's class order: circle, square, ...


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The same images as a class tree, a CSV of paths and labels, a data set."""
    root = tmp_path_factory.mktemp("sources")
    demo = write_folder(root / "demo", COUNT, seed=31)
    listed = []  # (class name, file) in the tree's order: class folders sorted, then files
    for n, label in enumerate(demo.labels):
        source = root / "demo" / ("images/nested" if n % 2 else "images") / f"{n:03d}.png"
        target = root / "tree" / CLASS_NAMES[label] / f"{n:03d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        listed.append((CLASS_NAMES[label], target))
    listed.sort(key=lambda pair: (pair[0], pair[1].name))
    labels = [CLASS_NAMES.index(name) for name, _ in listed]
    pd.DataFrame({"path": [str(p) for _, p in listed], "label": labels}).to_csv(
        root / "labels.csv", index=False
    )
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASS_NAMES))}
    )
    dataset = datasets.Dataset.from_dict(
        {"image": [{"bytes": p.read_bytes(), "path": None} for _, p in listed], "label": labels},
        features=features,
    )
    dataset.to_parquet(root / "images.parquet")
    dataset.save_to_disk(root / "saved")
    return root, dataset, labels


def run_audit(data_argument, out, *extra):
    code = main(
        [
            "audit",
            str(demo_model_file()),
            str(data_argument),
            "--out",
            str(out),
            "--target",
            "both",
            "--batch-size",
            "4",
            "--shard-size",
            "4",
            *extra,
        ]
    )
    assert code == 0
    return records_of(out)


def records_of(out) -> pd.DataFrame:
    frame = read_records(out).to_pandas().sort_values(["index", "method", "target_kind"])
    return frame.drop(columns=["path"]).reset_index(drop=True)


def assert_same_records(records, expected):
    assert list(records.columns) == list(expected.columns)
    np.testing.assert_allclose(
        np.stack(records["heatmap"]), np.stack(expected["heatmap"]), rtol=0, atol=1e-6
    )
    others = [c for c in expected.columns if c != "heatmap"]
    pd.testing.assert_frame_equal(records[others], expected[others])


@pytest.fixture(scope="module")
def from_csv(data, tmp_path_factory):
    root, _, labels = data
    out = tmp_path_factory.mktemp("csv") / "out"
    records = run_audit(root / "labels.csv", out, "--class-names", NAMES)
    assert records.loc[records["target_kind"] == "label", "target"].tolist() == labels
    return records


def report_names(out, names):
    page = (out / "report.html").read_text()
    return all(name in page for name in names)


def test_a_class_tree_with_the_models_class_names(data, from_csv, tmp_path, capsys):
    root, _, labels = data
    records = run_audit(root / "tree", tmp_path / "out", "--class-names", NAMES)
    assert_same_records(records, from_csv)
    assert report_names(tmp_path / "out", {CLASS_NAMES[k] for k in labels})
    assert f"(classes: {', '.join(CLASS_NAMES)})" in capsys.readouterr().out


def test_a_class_tree_alone_numbers_the_classes_in_sorted_order(data, from_csv, tmp_path):
    root, _, labels = data
    records = run_audit(root / "tree", tmp_path / "out")
    ordered = sorted(CLASS_NAMES)  # what image_dataset_from_directory would use
    rows = records[records["target_kind"] == "top"]
    assert rows["label"].tolist() == [ordered.index(CLASS_NAMES[k]) for k in labels]
    assert report_names(tmp_path / "out", {CLASS_NAMES[k] for k in labels})


def test_a_parquet_file_of_encoded_images(data, from_csv, tmp_path):
    root, _, labels = data
    records = run_audit(root / "images.parquet", tmp_path / "out")
    assert_same_records(records, from_csv)
    assert report_names(tmp_path / "out", {CLASS_NAMES[k] for k in labels})


def test_a_saved_dataset_on_the_command_line(data, from_csv, tmp_path):
    root, _, _ = data
    assert_same_records(run_audit(root / "saved", tmp_path / "out"), from_csv)


def test_a_dataset_in_python(data, from_csv, demo_model, tmp_path):
    _, dataset, labels = data
    summary = camlens.audit(
        demo_model,
        dataset,
        tmp_path / "out",
        target="both",
        batch_size=4,
        shard_size=4,
        progress=False,
    )
    assert summary.class_names == list(CLASS_NAMES)
    assert_same_records(records_of(tmp_path / "out"), from_csv)
    assert report_names(tmp_path / "out", {CLASS_NAMES[k] for k in labels})
    again = camlens.audit(  # resumes: the same data set, recognised by its bytes
        demo_model,
        dataset,
        tmp_path / "out",
        target="both",
        batch_size=4,
        shard_size=4,
        progress=False,
    )
    assert again.rows == summary.rows
    other = dataset.select(range(COUNT - 1))
    with pytest.raises(ValueError, match="data"):
        camlens.audit(
            demo_model,
            other,
            tmp_path / "out",
            target="both",
            batch_size=4,
            shard_size=4,
            progress=False,
        )
