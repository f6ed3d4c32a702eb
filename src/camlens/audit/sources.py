"""What the audit reads: items from files, class folders, tables of paths, tables
of encoded images (Parquet, Hugging Face data sets) or in-memory data sets.

A *source* lists items (an index, a path, the encoded bytes or the pixels, and
optionally a label, a mask file or a box), the class names when the data says
them, and what identifies the data for resuming; the decoding is `decode`'s.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path

import numpy as np

from ..files.image_tables import ImageTable, dataset_table, is_hf_dataset, open_image_table
from .items import Item, Source
from .streams import array_identity, array_items, is_py_dataset, stream_items, stream_length

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
BOX_COLUMNS = ("top", "left", "bottom", "right")
CLASS_COLUMN = "class_name"


def open_source(
    data,
    class_names: list[str] | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
) -> Source:
    """A `Source` for a folder (of class folders, or searched recursively), a glob,
    a CSV or Parquet table of paths, a Parquet file of encoded images, a Hugging
    Face `datasets.Dataset` (or one saved with `save_to_disk`), or in-memory data
    (arrays, (array, label) pairs, tf.data, PyDataset, DataLoader).

    Args:
        class_names: names indexed by class id. Class folders and a `class_name`
            column then take their ids from this list (each name must be in it);
            otherwise the names only label the report.
        image_column, label_column: the columns of a table of encoded images
            (see `files.image_tables.open_image_table`).
    """
    if class_names is not None:
        class_names = [str(name) for name in class_names]
    source = _source(data, class_names, image_column, label_column)
    if class_names is not None:
        source.class_names = class_names
    return source


def _source(data, class_names, image_column, label_column) -> Source:
    if is_hf_dataset(data):
        return _table_source(dataset_table(data, image_column, label_column), class_names)
    if isinstance(data, (str, Path)):
        return _file_source(data, class_names, image_column, label_column)
    if isinstance(data, np.ndarray):
        if data.ndim != 4:
            raise ValueError(
                "data given as an array must be (N, height, width, channels). "
                f"Received: data.shape={data.shape}"
            )
        return Source(lambda: array_items(data), len(data), array_identity(data), False, False)
    stream = {"type": type(data).__name__, "length": stream_length(data)}
    if hasattr(data, "as_numpy_iterator"):  # tf.data.Dataset
        return Source(
            lambda: stream_items(data.as_numpy_iterator()), None, None, False, None, stream
        )
    if is_py_dataset(data):
        batches = lambda: (data[i] for i in range(len(data)))  # noqa: E731
        return Source(lambda: stream_items(batches()), None, None, False, None, stream)
    if isinstance(data, Iterable):
        length = len(data) if isinstance(data, Sized) and not hasattr(data, "batch_size") else None
        return Source(lambda: stream_items(iter(data)), length, None, False, None, stream)
    raise TypeError(
        "data must be a folder, a glob pattern, a .csv or .parquet file, a Hugging Face "
        "datasets.Dataset, an (N, H, W, C) array, or an iterable of images or (image, "
        f"label) pairs. Received: data of type {type(data).__name__}"
    )


def _file_source(data, class_names, image_column, label_column) -> Source:
    text = str(data)
    path = Path(text)
    names = None
    if path.is_dir() and (path / "dataset_info.json").is_file():  # datasets' save_to_disk
        return _table_source(
            dataset_table(_load_from_disk(path), image_column, label_column), class_names
        )
    if path.is_dir():
        items, names = _folder_items(path, class_names)
    elif path.is_file() and path.suffix.lower() == ".parquet":
        table = open_image_table(path, image_column, label_column)
        if table is not None:
            return _table_source(table, class_names)
        items, names = _table_items(path, class_names)
    elif path.is_file() and path.suffix.lower() == ".csv":
        items, names = _table_items(path, class_names)
    elif any(char in text for char in "*?["):
        matches = sorted(p for p in glob.glob(text, recursive=True) if Path(p).is_file())
        items = [Item(n, p) for n, p in enumerate(matches)]
    else:
        raise ValueError(
            "data must be a folder, a glob pattern or a .csv / .parquet file. "
            f"Received: data={text!r}" + ("" if path.exists() else " (no such file or folder)")
        )
    if not items:
        raise ValueError(f"data holds no image. Received: data={text!r}")
    identity = hashlib.sha256(
        json.dumps([(i.path, i.label, i.mask, i.box) for i in items]).encode()
    ).hexdigest()
    has_labels = any(i.label is not None for i in items)
    return Source(lambda: iter(items), len(items), identity, True, has_labels, None, names)


def _folder_items(folder: Path, class_names) -> tuple[list[Item], list[str] | None]:
    """The images of a folder; labelled when it is a tree of class folders.

    A folder with no image of its own and at least two sub-folders is the layout
    `keras.utils.image_dataset_from_directory` reads: one sub-folder per class,
    the class ids in the sorted order of the sub-folders' names (hidden ones
    left out), or their positions in `class_names`. Otherwise its images are
    found at any depth, unlabelled.
    """
    own = [p for p in folder.iterdir() if p.is_file() and _is_image(p)]
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if own or len(classes) < 2:
        return [Item(n, str(p)) for n, p in enumerate(_images_under(folder))], None
    ids = _class_ids(classes, class_names, f"the class folders of {folder}")
    files = [(p, ids[name]) for name in classes for p in _images_under(folder / name)]
    return [Item(n, str(p), label) for n, (p, label) in enumerate(files)], classes


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and _is_image(p))


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _class_ids(found: list[str], class_names, where: str) -> dict[str, int]:
    """Each class name's id: its position in `class_names`, else in `found`."""
    if class_names is None:
        return {name: n for n, name in enumerate(found)}
    unknown = [name for name in found if name not in class_names]
    if unknown:
        raise ValueError(
            f"class_names must name every class of the data: {unknown} in {where} "
            f"are not among them. Received: class_names={class_names}"
        )
    return {name: class_names.index(name) for name in found}


def _table_items(path: Path, class_names) -> tuple[list[Item], list[str] | None]:
    """The rows of a CSV / Parquet table of paths, and its class names when it has
    a `class_name` column: beside a `label` column, the name of each id; alone,
    the ids are the names' positions in `class_names`, else in sorted order."""
    import pandas as pd

    table = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    if "path" not in table.columns:
        raise ValueError(
            f"the table of images must have a 'path' column (or, in a Parquet file, a "
            f"column of encoded images). Received: {path} with columns {list(table.columns)}"
        )
    rows = table.to_dict("records")
    labels = [_label(row.get("label"), path, n) for n, row in enumerate(rows)]
    names = None
    if CLASS_COLUMN in table.columns:
        named = [None if pd.isna(r[CLASS_COLUMN]) else str(r[CLASS_COLUMN]) for r in rows]
        if any(label is not None for label in labels):
            names = _names_of_ids(labels, named, path)
        else:
            found = sorted({name for name in named if name is not None})
            ids = _class_ids(found, class_names, f"the {CLASS_COLUMN!r} column of {path}")
            labels, names = [None if name is None else ids[name] for name in named], found
    has_box = all(c in table.columns for c in BOX_COLUMNS)
    items = []
    for n, (row, label) in enumerate(zip(rows, labels)):
        mask = row.get("mask")
        items.append(
            Item(
                index=n,
                path=_resolve(row["path"], path.parent),
                label=label,
                mask=None if mask is None or pd.isna(mask) else _resolve(mask, path.parent),
                box=tuple(int(row[c]) for c in BOX_COLUMNS)
                if has_box and not any(pd.isna(row[c]) for c in BOX_COLUMNS)
                else None,
            )
        )
    return items, names


def _names_of_ids(labels: list, named: list, path: Path) -> list[str]:
    """Names indexed by class id, from rows that give both (ids never named: their number)."""
    names: dict[int, str] = {}
    for label, name in zip(labels, named):
        if label is None or name is None:
            continue
        if names.setdefault(label, name) != name:
            raise ValueError(
                f"the {CLASS_COLUMN!r} column of {path} must give one name per label. "
                f"Received: label {label} named {names[label]!r} and {name!r}"
            )
    return [names.get(k, str(k)) for k in range(max(names, default=-1) + 1)]


def _label(value, path: Path, row: int) -> int | None:
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    if isinstance(value, str) or float(value) != int(value):
        raise ValueError(
            f"the 'label' column of {path} must hold class ids (integers); put class "
            f"names in a {CLASS_COLUMN!r} column. Received: {value!r} in row {row}"
        )
    return int(value)


def _table_source(table: ImageTable, class_names) -> Source:
    """A source of the rows of a table of encoded images (decoded as files are)."""

    def items() -> Iterator[Item]:
        for row in table.rows():
            # a row's own file name is not kept beside its bytes: the records'
            # `path` names files that can be read (the report reads them)
            path = row.path if row.encoded is None else None
            yield Item(row.index, path, row.label, encoded=row.encoded)

    names = table.class_names
    if class_names is not None and names is not None and len(class_names) < len(names):
        raise ValueError(
            f"class_names must name the {len(names)} classes of {table.name} ({names}). "
            f"Received: class_names={class_names}"
        )
    has_labels = table.label_column is not None
    return Source(items, table.length, table.identity(), False, has_labels, None, names)


def _load_from_disk(folder: Path):
    try:
        import datasets
    except ImportError as error:
        raise ImportError(
            f"{folder} is a Hugging Face data set saved with save_to_disk: reading it "
            "needs `datasets` (pip install 'camlens[hf]')"
        ) from error
    return datasets.load_from_disk(str(folder))


def _resolve(value, folder: Path) -> str:
    path = Path(str(value))
    return str(path if path.is_absolute() else folder / path)
