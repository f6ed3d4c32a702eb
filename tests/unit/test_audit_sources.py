"""Where users keep their images: class folders, tables with class names, Parquet
files of encoded images and Hugging Face data sets, read as the audit's items."""

from __future__ import annotations

import io

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from camlens.audit.sources import open_source

NAMES = ["zebra", "ant", "moth"]


def png(value: int, size=(6, 5)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_tree(root, layout: dict[str, list[str]]):
    for folder, files in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for n, name in enumerate(files):
            (root / folder / name).write_bytes(png(10 * n))
    return root


def items_of(source):
    return list(source.items())


# Class folders -------------------------------------------------------------------


def test_class_folders_give_labels_in_the_sorted_order_of_their_names(tmp_path):
    write_tree(tmp_path, {"zebra": ["b.png", "a.png"], "ant": ["x.png"], "moth/deep": ["c.png"]})
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "h.png").write_bytes(png(0))
    source = open_source(tmp_path)
    pairs = [(item.path.split("/")[-2:], item.label) for item in items_of(source)]
    assert source.class_names == ["ant", "moth", "zebra"]
    assert pairs == [
        (["ant", "x.png"], 0),
        (["deep", "c.png"], 1),  # moth/deep/c.png: a class folder is searched at any depth
        (["zebra", "a.png"], 2),
        (["zebra", "b.png"], 2),
    ]
    assert source.has_labels and source.files


def test_class_names_set_the_ids_of_the_class_folders(tmp_path):
    write_tree(tmp_path, {"zebra": ["a.png"], "ant": ["b.png"]})
    source = open_source(tmp_path, class_names=NAMES)
    assert {item.path.split("/")[-2]: item.label for item in items_of(source)} == {
        "zebra": 0,
        "ant": 1,
    }
    assert source.class_names == NAMES


def test_a_class_folder_missing_from_class_names_is_refused(tmp_path):
    write_tree(tmp_path, {"zebra": ["a.png"], "bee": ["b.png"]})
    with pytest.raises(ValueError, match=r"\['bee'\].*class_names="):
        open_source(tmp_path, class_names=NAMES)


def test_a_folder_with_images_of_its_own_is_searched_unlabelled(tmp_path):
    write_tree(tmp_path, {".": ["top.png"], "zebra": ["a.png"], "ant": ["b.png"]})
    source = open_source(tmp_path)
    assert [item.label for item in items_of(source)] == [None] * 3
    assert source.class_names is None and not source.has_labels


def test_one_sub_folder_is_not_a_class_tree(tmp_path):
    write_tree(tmp_path, {"photos": ["a.png", "b.png"]})
    source = open_source(tmp_path)
    assert [item.label for item in items_of(source)] == [None, None]


def test_another_labelling_changes_the_identity(tmp_path):
    write_tree(tmp_path, {"zebra": ["a.png"], "ant": ["b.png"]})
    assert open_source(tmp_path).identity != open_source(tmp_path, NAMES).identity


# Tables with class names ---------------------------------------------------------


def write_csv(path, text: str):
    path.write_text(text)
    return path


def test_a_class_name_column_alone_gives_ids_in_sorted_order(tmp_path):
    table = write_csv(tmp_path / "t.csv", "path,class_name\na.png,zebra\nb.png,ant\nc.png,\n")
    source = open_source(table)
    assert [item.label for item in items_of(source)] == [1, 0, None]
    assert source.class_names == ["ant", "zebra"]
    named = open_source(table, class_names=NAMES)
    assert [item.label for item in items_of(named)] == [0, 1, None]


def test_class_names_beside_labels_name_each_id(tmp_path):
    table = write_csv(
        tmp_path / "t.csv", "path,label,class_name\na.png,3,moth\nb.png,0,zebra\nc.png,3,moth\n"
    )
    source = open_source(table)
    assert [item.label for item in items_of(source)] == [3, 0, 3]
    assert source.class_names == ["zebra", "1", "2", "moth"]


def test_two_names_for_one_label_are_refused(tmp_path):
    table = write_csv(tmp_path / "t.csv", "path,label,class_name\na.png,1,moth\nb.png,1,ant\n")
    with pytest.raises(ValueError, match="one name per label.*'moth' and 'ant'"):
        open_source(table)


def test_a_label_column_of_names_is_refused_with_the_way_out(tmp_path):
    table = write_csv(tmp_path / "t.csv", "path,label\na.png,zebra\n")
    with pytest.raises(ValueError, match="class ids.*'class_name' column.*'zebra'"):
        open_source(table)


# Hugging Face data sets and Parquet files of encoded images ----------------------

ENCODED = [png(v) for v in (0, 60, 120, 180)]
LABELS = [2, 0, -1, 1]


def hf_dataset(labels=LABELS, encoded=ENCODED):
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=NAMES),
            "n": datasets.Value("int64"),
        }
    )
    rows = {
        "image": [{"bytes": data, "path": None} for data in encoded],
        "label": labels,
        "n": list(range(len(encoded))),
    }
    return datasets.Dataset.from_dict(rows, features=features)


def test_a_dataset_gives_its_bytes_labels_and_class_names():
    source = open_source(hf_dataset())
    items = items_of(source)
    assert [item.encoded for item in items] == ENCODED  # not decoded here
    assert [item.label for item in items] == [2, 0, None, 1]  # -1: no label
    assert [item.path for item in items] == [None] * 4
    assert source.class_names == NAMES and source.length == 4 and source.has_labels
    assert not source.files


def test_a_dataset_of_pil_images_and_a_named_label_column():
    images = [Image.open(io.BytesIO(data)) for data in ENCODED]
    dataset = datasets.Dataset.from_dict({"picture": images, "target": [1, 1, 0, 0]})
    source = open_source(dataset, image_column="picture", label_column="target")
    decoded = [np.asarray(Image.open(io.BytesIO(item.encoded))) for item in items_of(source)]
    expected = [np.asarray(image) for image in images]
    assert all(np.array_equal(a, b) for a, b in zip(decoded, expected))
    assert [item.label for item in items_of(source)] == [1, 1, 0, 0]
    assert source.class_names is None


def test_the_dataset_identity_follows_its_bytes_and_labels():
    same = open_source(hf_dataset()).identity
    assert open_source(hf_dataset()).identity == same
    changed = [*ENCODED[:3], png(181)]
    assert open_source(hf_dataset(encoded=changed)).identity != same
    assert open_source(hf_dataset(labels=[2, 0, 1, 1])).identity != same


def test_a_dataset_with_two_image_columns_needs_one_named():
    dataset = hf_dataset().add_column("other", [{"bytes": d, "path": None} for d in ENCODED])
    dataset = dataset.cast_column("other", datasets.Image())
    with pytest.raises(ValueError, match=r"several image columns \['image', 'other'\]"):
        open_source(dataset)
    assert items_of(open_source(dataset, image_column="other"))[3].encoded == ENCODED[3]


def test_a_missing_column_is_named(tmp_path):
    with pytest.raises(ValueError, match="image_column must be a column.*'photo'"):
        open_source(hf_dataset(), image_column="photo")
    with pytest.raises(ValueError, match="image_column must hold images.*'n'"):
        open_source(hf_dataset(), image_column="n")


def test_a_parquet_file_written_by_hugging_face_reads_as_the_dataset(tmp_path):
    dataset = hf_dataset()
    dataset.to_parquet(tmp_path / "data.parquet")
    source, expected = open_source(tmp_path / "data.parquet"), open_source(dataset)
    assert [(i.encoded, i.label) for i in items_of(source)] == [
        (i.encoded, i.label) for i in items_of(expected)
    ]
    assert source.class_names == NAMES and source.length == 4


def test_a_saved_dataset_folder_reads_as_the_dataset(tmp_path):
    hf_dataset().save_to_disk(tmp_path / "saved")
    source = open_source(tmp_path / "saved")
    assert [item.encoded for item in items_of(source)] == ENCODED
    assert source.class_names == NAMES


def test_a_parquet_file_of_bytes_without_metadata(tmp_path):
    table = pa.table({"jpeg": pa.array(ENCODED, pa.binary()), "label": [0, 1, 2, 0]})
    pq.write_table(table, tmp_path / "plain.parquet")
    source = open_source(tmp_path / "plain.parquet", class_names=NAMES)
    assert [(i.encoded, i.label) for i in items_of(source)] == list(zip(ENCODED, [0, 1, 2, 0]))
    assert source.class_names == NAMES


def test_a_parquet_table_of_paths_is_still_one(tmp_path):
    (tmp_path / "a.png").write_bytes(ENCODED[0])
    pq.write_table(pa.table({"path": ["a.png"], "label": [1]}), tmp_path / "paths.parquet")
    (item,) = items_of(open_source(tmp_path / "paths.parquet"))
    assert item.path == str(tmp_path / "a.png") and item.label == 1 and item.encoded is None
