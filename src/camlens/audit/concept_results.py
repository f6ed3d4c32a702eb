"""Concepts learned once every shard is written, and what the report reads of them.

`learn_concepts` reads the shards' concept arrays (in shard order, so the local
engine, the Ray engine and a resumed audit learn from the same rows in the same
order), learns `k` concepts per class (`camlens.concepts.fit_concepts`, seeded),
and writes:

- `concepts.parquet`: per image, its class and each concept's mean coefficient
  and contribution (joined to the records by `read_records`);
- `concepts.json`: per class, its images and each concept's importance, share
  and strongest images; `concepts.npz`: the bases, mean maps and strongest maps.

Each file is written whole or not at all; the manifest marks the step done, and
the arrays are then deleted.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files.writing import write_atomically
from .concept_arrays import batches
from .writer import CONCEPT_TABLE, ShardWriter

SUMMARY = "concepts.json"
ARRAYS_FILE = "concepts.npz"
SEED = 0
EPOCHS = 1
"""Passes of the factorisation over the sampled rows: one (a second moved the demo's
bases little, and cost as much again: benchmarks/results/cpu-audit-concepts.md)."""


@dataclass
class ClassConceptSummary:
    """What the report shows of one class's concepts (most important first)."""

    class_id: int
    images: int
    importance: list[float]
    share: list[float]
    strongest: list[list[int]]
    mean_maps: np.ndarray  # (k, h, w)
    strongest_maps: list[np.ndarray]  # per concept (m, h, w)


def learn_concepts(writer: ShardWriter, concepts: int, kind: str, layer_name: str | None) -> None:
    """Learn the concepts from the written shards' arrays and write their files."""
    from ..concepts import fit_concepts

    if writer.is_marked("concepts"):
        return
    files = writer.array_files()
    out_dir = writer.out_dir
    per_class, per_image = (
        fit_concepts(lambda: batches(files), concepts, seed=SEED, epochs=EPOCHS)
        if files
        else ({}, None)
    )
    _write_table(out_dir / CONCEPT_TABLE, per_image, kind)
    arrays = {}
    classes = []
    for class_id, found in per_class.items():
        arrays[f"bases_{class_id}"] = found.bases
        arrays[f"mean_maps_{class_id}"] = found.mean_maps
        for j, maps in enumerate(found.strongest_maps):
            arrays[f"strongest_{class_id}_{j}"] = maps
        classes.append(
            {
                "class": class_id,
                "images": found.images,
                "importance": found.importance.tolist(),
                "share": found.share.tolist(),
                "strongest": found.strongest,
            }
        )
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    write_atomically(out_dir / ARRAYS_FILE, buffer.getvalue(), durable=True)
    summary = {"concepts": concepts, "kind": kind, "layer": layer_name, "classes": classes}
    write_atomically(out_dir / SUMMARY, json.dumps(summary, indent=1).encode(), durable=True)
    writer.mark("concepts")
    writer.drop_arrays()


def read_concepts(out_dir) -> tuple[dict, dict[int, ClassConceptSummary]] | None:
    """`(summary, per class)` of the audit's concepts, or `None` if it has none."""
    out_dir = Path(out_dir)
    if not (out_dir / SUMMARY).exists():
        return None
    summary = json.loads((out_dir / SUMMARY).read_text())
    per_class = {}
    with np.load(out_dir / ARRAYS_FILE) as arrays:
        for entry in summary["classes"]:
            c = entry["class"]
            per_class[c] = ClassConceptSummary(
                class_id=c,
                images=entry["images"],
                importance=entry["importance"],
                share=entry["share"],
                strongest=entry["strongest"],
                mean_maps=arrays[f"mean_maps_{c}"],
                strongest_maps=[
                    arrays[f"strongest_{c}_{j}"] for j in range(len(entry["importance"]))
                ],
            )
    return summary, per_class


def _write_table(path: Path, per_image, kind: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 0 if per_image is None else len(per_image.ids)
    table = pa.table(
        {
            "index": pa.array([] if not count else per_image.ids, pa.int64()),
            "target_kind": pa.array([kind] * count, pa.string()),
            "class": pa.array([] if not count else per_image.classes, pa.int64()),
            "coefficients": pa.array(
                [] if not count else per_image.coefficients.astype(np.float32).tolist(),
                pa.list_(pa.float32()),
            ),
            "contributions": pa.array(
                [] if not count else per_image.contributions.astype(np.float32).tolist(),
                pa.list_(pa.float32()),
            ),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    write_atomically(path, buffer.getvalue(), durable=True)
