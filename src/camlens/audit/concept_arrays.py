"""The probe arrays concepts are learned from, carried with the records to disk.

During the audit, each image of the concepts' target kind gets its activations and
class-logit gradients at the explained layer (from the maps' probe pass). They
are turned into 16-bit integers per batch, as they come from the pass (`attach`),
travel with the image's first record (`CONCEPT_KEY`; as bytes between Ray actors
and the driver), and the writer stores them per shard as one file (`pack`):
`.npy` headers and raw blocks one after the other (ids, classes, steps,
activations, gradients), read back shard by shard for learning by `batches`
without a copy (a memory map of the file).

Each image's arrays are 16-bit integers, in steps of their largest magnitude over
65,535 (activations, uint16) or 32,767 (gradients, int16), the steps kept beside
them as float32 (stored x step is the value; `.npz` files of earlier versions,
float16 or 16-bit, read the same way): 2 x 2 bytes per activation of the layer,
so 4 h w C bytes an image (64 KiB for a 16 x 16 x 64 layer, 245 KiB for a
7 x 7 x 1280 one), deleted once the concepts are learned. Each value is within
half a step, 1.5e-5 of the image's largest, far below what the factorisation
resolves; integers convert from and to float32 several times faster than float16
in numpy, and a batch's arrays are converted while still in the processor's cache.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CONCEPT_KEY = "concept_arrays"
"""The record key holding (class id, activations, gradients, activations' step,
gradients' step) of its image, the arrays as 16-bit integers."""

SUFFIX = ".arrays"
"""The suffix of a shard's file of concept arrays."""

_ORDER = ("ids", "classes", "scales", "activations", "gradients")


def concept_kind(target: str) -> str:
    """The target kind whose classes the concepts are of: the one the report shows
    (`"label"` for `target="label"`, else the prediction)."""
    return "label" if target == "label" else "top"


def attach(records: list[dict], ids, classes, activations, gradients, kind: str) -> None:
    """Put each image's arrays, as 16-bit integers and their steps, on its first
    record of `kind`."""
    where = {int(i): n for n, i in enumerate(ids)}
    found = []  # (row of the arrays, record)
    for record in records:
        n = where.pop(record["index"], None) if record.get("target_kind") == kind else None
        if n is not None:
            found.append((n, record))
    if not found:
        return
    levels, steps = _quantized(activations, np.uint16)
    signed, signed_steps = _quantized(gradients, np.int16)
    for n, record in found:
        record[CONCEPT_KEY] = (
            int(classes[n]),
            levels[n],
            signed[n],
            float(steps[n]),
            float(signed_steps[n]),
        )


def pack(records: list[dict]) -> bytearray | None:
    """The file's bytes of the arrays carried by `records` (taken off them), in
    image order; `None` when none carries any."""
    carried = sorted(
        (record["index"], record.pop(CONCEPT_KEY))
        for record in records
        if record.get(CONCEPT_KEY) is not None
    )
    if not carried:
        return None
    found = [arrays for _, arrays in carried]
    arrays: dict[str, np.ndarray] = {
        "ids": np.array([index for index, _ in carried], np.int64),
        "classes": np.array([a[0] for a in found], np.int64),
        "scales": np.array([[a[3] for a in found], [a[4] for a in found]], np.float32),
    }
    shape = (len(found), *found[0][1].shape)
    blocks = {"activations": (np.dtype(np.uint16), 1), "gradients": (np.dtype(np.int16), 2)}
    headers = {name: _header(a.dtype, a.shape) for name, a in arrays.items()}
    headers.update({name: _header(dtype, shape) for name, (dtype, _) in blocks.items()})
    sizes = {name: len(headers[name]) + arrays[name].nbytes for name in arrays}
    sizes.update({name: len(headers[name]) + 2 * int(np.prod(shape)) for name in blocks})
    data = bytearray(sum(sizes.values()))
    start = 0
    for name in _ORDER:  # each array copied once, into its place in the file
        body = start + len(headers[name])
        data[start:body] = headers[name]
        if name in arrays:
            data[body : start + sizes[name]] = arrays[name].tobytes()
        else:
            dtype, column = blocks[name]
            out = np.frombuffer(data, dtype, int(np.prod(shape)), body).reshape(shape)
            np.stack([a[column] for a in found], out=out)
        start += sizes[name]
    return data


def to_bytes(record: dict) -> bytes | None:
    """A record's arrays as bytes (for a Ray block), taken off the record."""
    arrays = record.pop(CONCEPT_KEY, None)
    if arrays is None:
        return None
    buffer = io.BytesIO()
    np.savez(
        buffer,
        numbers=np.array(arrays[3:], np.float64),
        classes=np.array([arrays[0]]),
        activations=arrays[1],
        gradients=arrays[2],
    )
    return buffer.getvalue()


def from_bytes(data: bytes | None):
    """The record's arrays (`CONCEPT_KEY`) of `to_bytes`, or `None`."""
    if data is None:
        return None
    with np.load(io.BytesIO(data)) as arrays:
        steps = arrays["numbers"].tolist()
        return int(arrays["classes"][0]), arrays["activations"], arrays["gradients"], *steps


def batches(files: list[Path]) -> Iterator:
    """`ConceptBatch`es read back from the shards' files, in their order."""
    from ..concepts import ConceptBatch

    for path in files:
        if path.suffix == ".npz":  # written by an earlier version
            with np.load(path) as found:
                arrays = {name: found[name] for name in found.files}
            arrays["scales"] = np.stack([arrays["activation_scales"], arrays["gradient_scales"]])
        else:
            arrays = _mapped(path)
        yield ConceptBatch(**{name: arrays[name] for name in _ORDER})


def _mapped(path: Path) -> dict:
    """The arrays of a file `pack` wrote, the large ones mapped from the file (not read)."""
    arrays = {}
    whole = np.memmap(path, np.uint8, mode="r")
    with open(path, "rb") as stream:
        for name in _ORDER:
            np.lib.format.read_magic(stream)
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
            count = int(np.prod(shape))
            array = np.frombuffer(whole, dtype, count, stream.tell()).reshape(shape)
            arrays[name] = array if array.nbytes > 2**16 else array.copy()
            stream.seek(array.nbytes, io.SEEK_CUR)
    return arrays


def _header(dtype: np.dtype, shape: tuple) -> bytes:
    """The `.npy` header of a C-ordered array of `dtype` and `shape`."""
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
    np.lib.format.write_array_header_1_0(buffer, {**header, "shape": tuple(shape)})
    return buffer.getvalue()


def _quantized(arrays: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(n, ...) float32 -> 16-bit integers in steps of each array's largest
    magnitude over the type's largest value (uint16 for non-negative arrays,
    int16 for signed ones), and those steps (n,) float32: array ~ stored * step.
    (A value times the inverse of its array's step is at most the type's largest
    value and a few rounding errors of it, so nothing needs clipping.)"""
    arrays = np.asarray(arrays, np.float32)
    flat = arrays.reshape(len(arrays), -1)
    signed = np.iinfo(dtype).min < 0
    largest = np.maximum(flat.max(axis=1), -flat.min(axis=1)) if signed else flat.max(axis=1)
    steps = np.where(largest > 0, largest / np.iinfo(dtype).max, 1.0).astype(np.float32)
    levels = flat * (1 / steps)[:, None]
    if signed:
        np.rint(levels, out=levels)
    else:  # non-negative: truncating x + 0.5 rounds it
        levels += 0.5
    return levels.astype(dtype).reshape(arrays.shape), steps
