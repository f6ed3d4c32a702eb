"""Items of in-memory data: an (N, H, W, C) array, or a stream of images,
(image, label) pairs or batches of them (tf.data, PyDataset, DataLoader)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np

from .items import Item, as_array


def array_items(images: np.ndarray) -> Iterator[Item]:
    for n, image in enumerate(images):
        yield Item(n, pixels=image)


def stream_items(elements: Iterator) -> Iterator[Item]:
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
        return as_array(element[0]), element[1]
    return as_array(element), None


def _labels(labels, count: int, batch: bool) -> list:
    if labels is None:
        return [None] * count
    labels = as_array(labels)
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


def array_identity(images: np.ndarray) -> str:
    """An (N, H, W, C) array's shape, dtype and a SHA-256 of its bytes."""
    digest = hashlib.sha256(f"{images.shape} {images.dtype}".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return f"array {images.shape} {images.dtype} {digest.hexdigest()[:16]}"


def stream_length(data) -> int | None:
    """A stream's number of elements when it says so cheaply (`len`, tf.data's
    known cardinality), else `None`."""
    if hasattr(data, "cardinality"):  # tf.data.Dataset: -1 infinite, -2 unknown
        count = int(data.cardinality())
        return count if count >= 0 else None
    try:
        return len(data)
    except TypeError:  # no __len__, or one that refuses (an IterableDataset's loader)
        return None


def is_py_dataset(data) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency
        return False
    return isinstance(data, keras.utils.PyDataset)
