"""The probe arrays concepts are learned from, carried with the records to disk.

During the audit, each image of the concepts' target kind gets its activations and
class-logit gradients at the explained layer (one `ConceptProbe` pass per batch).
They travel with the image's first record (`CONCEPT_KEY`; as `.npy` bytes
between Ray actors and the driver), and the writer stores them per shard as one
`.npz` (`pack`); `batches` reads them back, shard by shard, for learning.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CONCEPT_KEY = "concept_arrays"
"""The record key holding (class id, activations, gradients) of its image."""


def concept_kind(target: str) -> str:
    """The target kind whose classes the concepts are of: the one the report shows
    (`"label"` for `target="label"`, else the prediction)."""
    return "label" if target == "label" else "top"


def attach(records: list[dict], ids, classes, activations, gradients, kind: str) -> None:
    """Put each image's arrays on its first record of `kind`."""
    where = {int(i): n for n, i in enumerate(ids)}
    for record in records:
        n = where.pop(record["index"], None) if record.get("target_kind") == kind else None
        if n is not None:
            record[CONCEPT_KEY] = (int(classes[n]), activations[n], gradients[n])


def pack(records: list[dict]) -> bytes | None:
    """The `.npz` bytes of the arrays carried by `records` (taken off them), in
    image order; `None` when none carries any."""
    carried = sorted(
        (record["index"], record.pop(CONCEPT_KEY))
        for record in records
        if record.get(CONCEPT_KEY) is not None
    )
    if not carried:
        return None
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.array([index for index, _ in carried], np.int64),
        classes=np.array([arrays[0] for _, arrays in carried], np.int64),
        activations=np.stack([arrays[1] for _, arrays in carried]).astype(np.float32),
        gradients=np.stack([arrays[2] for _, arrays in carried]).astype(np.float32),
    )
    return buffer.getvalue()


def to_bytes(record: dict) -> bytes | None:
    """A record's arrays as bytes (for a Ray block), taken off the record."""
    arrays = record.pop(CONCEPT_KEY, None)
    if arrays is None:
        return None
    buffer = io.BytesIO()
    np.savez(
        buffer,
        classes=np.array([arrays[0]]),
        activations=arrays[1],
        gradients=arrays[2],
    )
    return buffer.getvalue()


def from_bytes(data: bytes | None):
    """The (class id, activations, gradients) of `to_bytes`, or `None`."""
    if data is None:
        return None
    with np.load(io.BytesIO(data)) as arrays:
        return int(arrays["classes"][0]), arrays["activations"], arrays["gradients"]


def batches(files: list[Path]) -> Iterator:
    """`ConceptBatch`es read back from the shards' `.npz` files, in their order."""
    from ..concepts import ConceptBatch

    for path in files:
        with np.load(path) as arrays:
            yield ConceptBatch(
                arrays["ids"], arrays["classes"], arrays["activations"], arrays["gradients"]
            )
