"""The probe arrays concepts are learned from, carried with the records to disk.

During the audit, each image of the concepts' target kind gets its activations and
class-logit gradients at the explained layer (one `ConceptProbe` pass per batch).
They travel with the image's first record (`CONCEPT_KEY`; as `.npz` bytes
between Ray actors and the driver), and the writer stores them per shard as one
`.npz` (`pack`); `batches` reads them back, shard by shard, for learning.

On disk each image's arrays are 16-bit integers, in steps of their largest
magnitude over 65,535 (activations, uint16) or 32,767 (gradients, int16), the
steps kept beside them as float32 (`*_scales`: stored x scale is the value; files
of float16 arrays scaled by their largest magnitude, as earlier versions wrote,
read the same way): 2 x 2 bytes per activation of the layer, so 4 h w C bytes an
image (64 KiB for a 16 x 16 x 64 layer, 245 KiB for a 7 x 7 x 1280 one), deleted
once the concepts are learned. Each value is within half a step, 1.5e-5 of the
image's largest, far below what the factorisation resolves; integers convert
from and to float32 several times faster than float16 in numpy.
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
    stacked = [np.stack([arrays[n] for _, arrays in carried]) for n in (1, 2)]
    activations, activation_scales = _quantized(stacked[0], np.uint16)
    gradients, gradient_scales = _quantized(stacked[1], np.int16)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.array([index for index, _ in carried], np.int64),
        classes=np.array([arrays[0] for _, arrays in carried], np.int64),
        activations=activations,
        activation_scales=activation_scales,
        gradients=gradients,
        gradient_scales=gradient_scales,
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
                arrays["ids"],
                arrays["classes"],
                arrays["activations"],
                arrays["gradients"],
                np.stack([arrays["activation_scales"], arrays["gradient_scales"]]),
            )


def _quantized(arrays: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(n, ...) float32 -> 16-bit integers in steps of each array's largest
    magnitude over the type's largest value (uint16 for non-negative arrays,
    int16 for signed ones), and those steps (n,) float32: array ~ stored * step."""
    arrays = np.asarray(arrays, np.float32)
    flat = arrays.reshape(len(arrays), -1)
    largest = np.maximum(flat.max(axis=1), -flat.min(axis=1))
    top = np.iinfo(dtype).max
    steps = np.where(largest > 0, largest / top, 1.0).astype(np.float32)
    shape = (-1,) + (1,) * (arrays.ndim - 1)
    levels = np.rint(arrays * (1 / steps).reshape(shape))
    np.clip(levels, -top if np.iinfo(dtype).min else 0, top, out=levels)
    return levels.astype(dtype), steps
