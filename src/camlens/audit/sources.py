"""What the audit reads: items from files, tables of paths or in-memory data sets.

A *source* lists items (an index, a path or the pixels, and optionally a label,
a mask file or a box), and says what identifies the data for resuming; the
decoding is `decode`'s.
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
BOX_COLUMNS = ("top", "left", "bottom", "right")


@dataclass(frozen=True)
class Item:
    """One image to audit.

    Attributes:
        index: its position in the data, the key of its records.
        path: the image file, `None` for in-memory data.
        label: the true class id, `None` when unknown.
        mask: the object mask file (white on the object), or `None`.
        box: the object box (top, left, bottom, right) in image pixels, ends
            exclusive, or `None`.
        pixels: (H, W, C) for in-memory data, `None` for files.
    """

    index: int
    path: str | None = None
    label: int | None = None
    mask: str | None = None
    box: tuple | None = None
    pixels: np.ndarray | None = None


@dataclass
class Source:
    """The items of a data set.

    Attributes:
        items: a function returning a fresh iterator over the items.
        length: the number of images when known, else `None`.
        identity: a digest of what the data holds (paths and labels; an array's
            bytes), so that a resumed audit can refuse different data; `None`
            for streams, recognised by `open()` from their first item.
        files: True when every item is a file (what the Ray engine needs).
        has_labels: whether labels are known (`None`: not known before reading).
        stream: for a stream, its type's name and its length when it has one
            (elements: batches for a batched stream), else `None`.
    """

    items: Callable[[], Iterator[Item]]
    length: int | None
    identity: str | None
    files: bool
    has_labels: bool | None
    stream: dict | None = None

    def open(self) -> tuple[Iterator[Item], str]:
        """`(items, identity)`: a fresh iterator over the items, and the data's identity.

        A stream's identity is what can be known cheaply: its type, its length
        when it has one, and its first item (the image's shape, dtype and a
        SHA-256 of its bytes, and its label), read from the same iterator (which
        yields it again). A stream that changes only after its first item cannot
        be told apart; a shuffled one is refused on resuming (its first item
        changes), as it must be: the images skipped would be other images.
        """
        items = self.items()
        if self.identity is not None:
            return items, self.identity
        first = next(items, None)
        stream = self.stream or {"type": "stream", "length": None}
        described = stream["type"] + (
            "" if stream["length"] is None else f" of length {stream['length']}"
        )
        if first is None:
            return items, f"{described}, empty"
        pixels = np.ascontiguousarray(_as_array(first.pixels))
        digest = hashlib.sha256(f"{pixels.shape} {pixels.dtype} {first.label}".encode())
        digest.update(pixels.tobytes())
        return (
            itertools.chain([first], items),
            f"{described}, first item {digest.hexdigest()[:16]} {pixels.shape}",
        )


def open_source(data) -> Source:
    """A `Source` for a folder, a glob, a CSV or Parquet table of paths, or
    in-memory data (arrays, (array, label) pairs, tf.data, PyDataset, DataLoader)."""
    if isinstance(data, (str, Path)):
        return _file_source(data)
    if isinstance(data, np.ndarray):
        if data.ndim != 4:
            raise ValueError(
                "data given as an array must be (N, height, width, channels). "
                f"Received: data.shape={data.shape}"
            )
        return Source(lambda: _array_items(data), len(data), _array_identity(data), False, False)
    stream = {"type": type(data).__name__, "length": _stream_length(data)}
    if hasattr(data, "as_numpy_iterator"):  # tf.data.Dataset
        return Source(
            lambda: _stream_items(data.as_numpy_iterator()), None, None, False, None, stream
        )
    if _is_py_dataset(data):
        batches = lambda: (data[i] for i in range(len(data)))  # noqa: E731
        return Source(lambda: _stream_items(batches()), None, None, False, None, stream)
    if isinstance(data, Iterable):
        length = len(data) if isinstance(data, Sized) and not hasattr(data, "batch_size") else None
        return Source(lambda: _stream_items(iter(data)), length, None, False, None, stream)
    raise TypeError(
        "data must be a folder, a glob pattern, a .csv or .parquet file of paths, an "
        "(N, H, W, C) array, or an iterable of images or (image, label) pairs. "
        f"Received: data of type {type(data).__name__}"
    )


def _file_source(data) -> Source:
    text = str(data)
    path = Path(text)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        )
        items = [Item(n, str(p)) for n, p in enumerate(files)]
    elif path.is_file() and path.suffix.lower() in (".csv", ".parquet"):
        items = _table_items(path)
    elif any(char in text for char in "*?["):
        matches = sorted(p for p in glob.glob(text, recursive=True) if Path(p).is_file())
        items = [Item(n, p) for n, p in enumerate(matches)]
    else:
        raise ValueError(
            "data must be a folder, a glob pattern or a .csv / .parquet file of paths. "
            f"Received: data={text!r}" + ("" if path.exists() else " (no such file or folder)")
        )
    if not items:
        raise ValueError(f"data holds no image. Received: data={text!r}")
    identity = hashlib.sha256(
        json.dumps([(i.path, i.label, i.mask, i.box) for i in items]).encode()
    ).hexdigest()
    has_labels = any(i.label is not None for i in items)
    return Source(lambda: iter(items), len(items), identity, True, has_labels)


def _table_items(path: Path) -> list[Item]:
    import pandas as pd

    table = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    if "path" not in table.columns:
        raise ValueError(
            f"the table of images must have a 'path' column. Received: {path} with "
            f"columns {list(table.columns)}"
        )
    has_box = all(c in table.columns for c in BOX_COLUMNS)
    items = []
    for n, row in enumerate(table.to_dict("records")):
        label = row.get("label")
        mask = row.get("mask")
        items.append(
            Item(
                index=n,
                path=_resolve(row["path"], path.parent),
                label=None if label is None or pd.isna(label) else int(label),
                mask=None if mask is None or pd.isna(mask) else _resolve(mask, path.parent),
                box=tuple(int(row[c]) for c in BOX_COLUMNS)
                if has_box and not any(pd.isna(row[c]) for c in BOX_COLUMNS)
                else None,
            )
        )
    return items


def _resolve(value, folder: Path) -> str:
    path = Path(str(value))
    return str(path if path.is_absolute() else folder / path)


def _array_items(images: np.ndarray) -> Iterator[Item]:
    for n, image in enumerate(images):
        yield Item(n, pixels=image)


def _stream_items(elements: Iterator) -> Iterator[Item]:
    """Items from a stream of images, (image, label) pairs, or batches of them."""
    index = 0
    for element in elements:
        images, labels = _split(element)
        batch = images.ndim == 4
        images = images if batch else images[None]
        labels = _labels(labels, len(images), batch)
        for image, label in zip(images, labels):
            yield Item(index, label=label, pixels=image)
            index += 1


def _split(element) -> tuple[np.ndarray, object]:
    if isinstance(element, (tuple, list)) and len(element) in (2, 3):
        return _as_array(element[0]), element[1]
    return _as_array(element), None


def _labels(labels, count: int, batch: bool) -> list:
    if labels is None:
        return [None] * count
    labels = _as_array(labels)
    if not batch:
        labels = labels[None]
    if labels.ndim == 2:  # one-hot or probabilities
        labels = labels.argmax(axis=-1)
    if labels.shape != (count,):
        raise ValueError(
            f"labels must be one class id (or one-hot row) per image. Received: labels "
            f"of shape {labels.shape} for {count} images"
        )
    return [int(label) for label in labels]


def _as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensors
        value = value.detach().cpu()
    array = np.asarray(value)
    if array.ndim not in (0, 1, 2, 3, 4):
        raise ValueError(f"expected images or labels. Received: an array of shape {array.shape}")
    return array


def _array_identity(images: np.ndarray) -> str:
    """An (N, H, W, C) array's shape, dtype and a SHA-256 of its bytes."""
    digest = hashlib.sha256(f"{images.shape} {images.dtype}".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return f"array {images.shape} {images.dtype} {digest.hexdigest()[:16]}"


def _stream_length(data) -> int | None:
    """A stream's number of elements when it says so cheaply (`len`, tf.data's
    known cardinality), else `None`."""
    if hasattr(data, "cardinality"):  # tf.data.Dataset: -1 infinite, -2 unknown
        count = int(data.cardinality())
        return count if count >= 0 else None
    try:
        return len(data)
    except TypeError:  # no __len__, or one that refuses (an IterableDataset's loader)
        return None


def _is_py_dataset(data) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency
        return False
    return isinstance(data, keras.utils.PyDataset)
