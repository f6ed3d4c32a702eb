"""Images kept inside tables: a Hugging Face `datasets.Dataset`, and Parquet files
whose image column holds the encoded bytes (as Hugging Face writes them).

`open_image_table` finds the image column, the label column and the class names
(from the data set's features when it has them) and reads the rows in batches,
without decoding: the bytes are decoded later, as a file's are
(`images.decode_image`). Both kinds are read through Arrow, one code path:
a data set is an Arrow table with its features beside it, and a Parquet file
written by Hugging Face keeps the same features in its schema's metadata.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BATCH_ROWS = 64
LABEL_COLUMNS = ("label", "labels")


@dataclass(frozen=True)
class TableRow:
    """One row: the image's encoded bytes (or the file it names) and its label.

    Attributes:
        index: the row's position in the table.
        encoded: the image file's bytes, or `None` when the row only names a file.
        path: the file the row names (Hugging Face keeps the original file's
            name beside its bytes), or `None`.
        label: the class id, or `None` (no label column, or Hugging Face's -1).
    """

    index: int
    encoded: bytes | None
    path: str | None
    label: int | None


@dataclass
class ImageTable:
    """A table of images: its columns, its class names, and its rows.

    Attributes:
        name: what it is, for messages and identities (`Dataset`, a file's path).
        length: the number of rows.
        image_column: the column of images.
        label_column: the column of class ids, or `None`.
        class_names: names indexed by class id (the label feature's), or `None`.
    """

    name: str
    length: int
    image_column: str
    label_column: str | None
    class_names: list[str] | None
    _batches: Callable[[list[str]], Iterator]

    def rows(self) -> Iterator[TableRow]:
        """The rows in order, read `BATCH_ROWS` at a time."""
        columns = [self.image_column] + ([self.label_column] if self.label_column else [])
        index = 0
        for batch in self._batches(columns):
            images = batch.column(self.image_column).to_pylist()
            labels = (
                batch.column(self.label_column).to_pylist()
                if self.label_column
                else [None] * len(images)
            )
            for image, label in zip(images, labels):
                yield self._row(index, image, label)
                index += 1

    def identity(self) -> str:
        """A digest of what the table holds: every image's bytes (or the file it
        names) and label, read once without decoding, and the class names."""
        digest = hashlib.sha256(
            json.dumps(
                [self.length, self.image_column, self.label_column, self.class_names]
            ).encode()
        )
        for row in self.rows():
            digest.update(row.encoded if row.encoded is not None else str(row.path).encode())
            digest.update(f" {row.label};".encode())
        return f"{self.name}, {self.length} rows, {digest.hexdigest()[:16]}"

    def _row(self, index: int, image, label) -> TableRow:
        path = None
        if isinstance(image, dict):  # Hugging Face's Image: {"bytes": ..., "path": ...}
            image, path = image.get("bytes"), image.get("path")
        if image is None and path is None:
            raise ValueError(f"row {index} of {self.name} holds no image in {self.image_column!r}")
        if label is not None and (isinstance(label, bool) or not isinstance(label, int)):
            raise ValueError(
                f"the label column {self.label_column!r} of {self.name} must hold class ids "
                f"(integers). Received: {label!r} in row {index}"
            )
        return TableRow(index, image, path, None if label is None or label < 0 else label)


class TableImages:
    """The images of an `ImageTable`, decoded as files are and made inputs by
    `to_input` (PIL image -> (H, W, C)), in order; its length is the table's."""

    def __init__(self, table: ImageTable, to_input: Callable):
        self.table = table
        self.to_input = to_input

    def __len__(self) -> int:
        return self.table.length

    def __iter__(self) -> Iterator:
        from .images import decode_image, load_image

        for row in self.table.rows():
            name = f"image {row.index} of {self.table.name}"
            image = (
                decode_image(row.encoded, name)
                if row.encoded is not None
                else load_image(Path(str(row.path)))
            )
            yield self.to_input(image)


def is_hf_dataset(data) -> bool:
    """Whether `data` is a `datasets.Dataset` (checked without importing `datasets`:
    a user holding one has imported it)."""
    module = sys.modules.get("datasets")
    return module is not None and isinstance(data, module.Dataset)


def open_image_table(
    data, image_column: str | None = None, label_column: str | None = None
) -> ImageTable | None:
    """An `ImageTable` for a `datasets.Dataset` or a Parquet file of encoded images;
    `None` for a Parquet file without such a column (a table of paths).

    Args:
        data: a `datasets.Dataset`, or the path of a `.parquet` file.
        image_column: the column of images (PIL images, i.e. Hugging Face's
            `Image` feature, or encoded bytes); default: the only such column.
        label_column: the column of class ids; default: the only `ClassLabel`
            feature, else a column named `label` or `labels`, else none.

    Raises:
        ValueError: a named column is missing or holds no images, or the image
            column cannot be told (several, or none when one was asked for).
    """
    if is_hf_dataset(data):
        schema, features = data.data.schema, data.features.to_dict()
        arrow = data.with_format("arrow")
        name, length = "Dataset", len(data)

        def batches(columns: list[str]) -> Iterator:
            return arrow.select_columns(columns).iter(batch_size=BATCH_ROWS)

    else:
        import pyarrow.parquet as pq

        path = Path(data)
        parquet = pq.ParquetFile(path)
        schema, name, length = parquet.schema_arrow, str(path), parquet.metadata.num_rows
        features = _features_in(schema)
        if image_column is None and "path" in schema.names:
            return None  # a table of paths

        def batches(columns: list[str]) -> Iterator:
            return pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns)

    image = _image_column(schema, features, image_column, name)
    if image is None:
        return None
    label = _label_column(schema, features, label_column, name)
    names = features.get(label, {}).get("names") if label else None
    return ImageTable(name, length, image, label, names, batches)


def dataset_table(
    dataset, image_column: str | None = None, label_column: str | None = None
) -> ImageTable:
    """`open_image_table` for a `datasets.Dataset`, which must hold images."""
    table = open_image_table(dataset, image_column, label_column)
    if table is None:
        raise ValueError(
            "a Hugging Face data set must have a column of images (the Image feature, "
            f"or encoded bytes). Received: a Dataset with features {dataset.features}"
        )
    return table


def _features_in(schema) -> dict:
    """The Hugging Face features a Parquet file's schema carries, else `{}`."""
    metadata = (schema.metadata or {}).get(b"huggingface")
    try:
        return json.loads(metadata)["info"]["features"] if metadata else {}
    except (ValueError, KeyError, TypeError):
        return {}


def _image_column(schema, features: dict, wanted: str | None, name: str) -> str | None:
    import pyarrow as pa

    def holds_images(column: str) -> bool:
        kind = schema.field(column).type
        if features.get(column, {}).get("_type") == "Image":
            return True
        if pa.types.is_struct(kind):
            return kind.get_field_index("bytes") >= 0
        return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)

    if wanted is not None:
        if wanted not in schema.names:
            raise ValueError(
                f"image_column must be a column of {name}: {schema.names}. "
                f"Received: image_column={wanted!r}"
            )
        if not holds_images(wanted):
            raise ValueError(
                f"image_column must hold images (Hugging Face's Image feature, or the "
                f"encoded bytes). Received: image_column={wanted!r} of type "
                f"{schema.field(wanted).type}"
            )
        return wanted
    found = [column for column in schema.names if holds_images(column)]
    if len(found) > 1:
        raise ValueError(
            f"{name} has several image columns {found}: pass image_column= "
            "(camlens audit: --image-column NAME)"
        )
    return found[0] if found else None


def _label_column(schema, features: dict, wanted: str | None, name: str) -> str | None:
    if wanted is not None:
        if wanted not in schema.names:
            raise ValueError(
                f"label_column must be a column of {name}: {schema.names}. "
                f"Received: label_column={wanted!r}"
            )
        return wanted
    class_labels = [c for c in schema.names if features.get(c, {}).get("_type") == "ClassLabel"]
    if len(class_labels) == 1:
        return class_labels[0]
    return next((c for c in LABEL_COLUMNS if c in schema.names), None)
