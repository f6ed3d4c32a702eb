"""The audit's unit of work: an `Item` (one image to audit) and a `Source` (the
items of a data set, and what identifies it for resuming)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


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
        encoded: an image file's bytes, kept in a table (decoded as a file is).
    """

    index: int
    path: str | None = None
    label: int | None = None
    mask: str | None = None
    box: tuple | None = None
    pixels: np.ndarray | None = None
    encoded: bytes | None = None


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
        class_names: names indexed by class id, when the data says them (its
            class folders, a `class_name` column, a data set's label feature) or
            the caller gave them; else `None`.
    """

    items: Callable[[], Iterator[Item]]
    length: int | None
    identity: str | None
    files: bool
    has_labels: bool | None
    stream: dict | None = None
    class_names: list[str] | None = None

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
        pixels = np.ascontiguousarray(as_array(first.pixels))
        digest = hashlib.sha256(f"{pixels.shape} {pixels.dtype} {first.label}".encode())
        digest.update(pixels.tobytes())
        return (
            itertools.chain([first], items),
            f"{described}, first item {digest.hexdigest()[:16]} {pixels.shape}",
        )


def as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensors
        value = value.detach().cpu()
    array = np.asarray(value)
    if array.ndim not in (0, 1, 2, 3, 4):
        raise ValueError(f"expected images or labels. Received: an array of shape {array.shape}")
    return array
