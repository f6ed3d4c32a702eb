"""Where the audit's records go: Parquet part files, one per shard, and a manifest.

`out_dir/records.parquet/` is a Parquet data set of `part-NNNNN.parquet` files;
each is written to a temporary name and renamed, then listed in
`out_dir/manifest.json` (also replaced atomically), both flushed to the disk. A
shard is done only once the manifest lists it, so after a crash, Ctrl-C or
`kill -9` a rerun redoes exactly the shards the manifest lacks: no row lost, none
written twice. A listed part file found missing or damaged on resuming is redone
too, and one audit at a time writes into a folder (a lock the system drops when
its process dies, however it ends).

With concepts, each shard also has its images' activations and gradients at the
concepts' layer, `out_dir/concept-arrays/part-NNNNN.arrays`, written before
the part file and listed with it (with its CRC-32): the concepts are learned from them once every
shard is written (`concept_results`), then they are deleted.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zlib
from pathlib import Path

import numpy as np

from ..files.writing import write_atomically
from .concept_arrays import SUFFIX as ARRAYS_SUFFIX

RECORDS = "records.parquet"
MANIFEST = "manifest.json"
LOCK = ".camlens-audit.lock"
ARRAYS = "concept-arrays"
CONCEPT_TABLE = "concepts.parquet"
_VERSION = 3  # 2: image_height, image_width; options.size. 3: concepts, new metrics


def record_schema():
    """The Arrow schema of one record: one row per image, target and method."""
    import pyarrow as pa

    return pa.schema(
        [
            ("index", pa.int64()),  # position of the image in the data
            ("path", pa.string()),  # the image file (null for in-memory data)
            ("label", pa.int64()),  # the true class, when known
            ("predicted", pa.int64()),  # the model's top class
            ("predicted_score", pa.float64()),
            ("method", pa.string()),
            ("target_kind", pa.string()),  # "top" or "label"
            ("target", pa.int64()),  # the class explained
            ("score", pa.float64()),  # the score explained
            ("heatmap", pa.list_(pa.float32())),  # the map at layer resolution, row-major
            ("heatmap_height", pa.int32()),
            ("heatmap_width", pa.int32()),
            ("image_height", pa.int32()),  # the image as given (before resizing), upright
            ("image_width", pa.int32()),
            ("pointing_game", pa.bool_()),  # with a mask or box: is the map's peak on the object
            ("energy", pa.float64()),  # share of the map's mass on the object
            ("sparseness", pa.float64()),  # Gini index of the map (higher: more concise)
            ("complexity", pa.float64()),  # entropy of the map (lower: simpler)
            ("deletion_auc", pa.float64()),
            ("insertion_auc", pa.float64()),
            ("road", pa.float64()),  # ROAD combined (higher: more faithful)
            ("max_sensitivity", pa.float64()),  # (lower: more robust)
            ("error", pa.string()),  # why the image could not be audited
            ("shard", pa.int64()),
        ]
    )


def records_table(records: list[dict]):
    """An Arrow table of `record_schema()` from record dicts (missing fields are null)."""
    import pyarrow as pa

    return pa.Table.from_pylist(records, schema=record_schema())


def read_records(out_dir):
    """The records of the finished shards of the audit in `out_dir`, as an Arrow table.

    With concepts (`audit(..., concepts=k)`), once they are learned, the records of
    the concepts' target kind gain `concept_class` (the class whose concepts
    describe the image) and `concepts` (each concept's mean coefficient over the
    image, most important concept first).

    Example:
        >>> from camlens.audit import read_records
        >>> table = read_records("audit-out")
        >>> frame = table.to_pandas()
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    manifest = _read_manifest(out_dir)
    if manifest is None:
        raise ValueError(f"out_dir holds no audit (no {MANIFEST}). Received: out_dir={out_dir}")
    shards = sorted(manifest["shards"].items(), key=lambda entry: int(entry[0]))
    tables = [pq.read_table(out_dir / RECORDS / entry["file"]) for _, entry in shards]
    table = pa.concat_tables(tables) if tables else records_table([])
    if (out_dir / CONCEPT_TABLE).exists():
        table = _with_concepts(table, pq.read_table(out_dir / CONCEPT_TABLE))
    return table


def _with_concepts(table, concepts):
    """The records with the concepts' columns, matched by (index, target_kind)."""
    import pyarrow as pa

    found = {
        (index, kind): (class_id, values)
        for index, kind, class_id, values in zip(
            *(
                concepts.column(name).to_pylist()
                for name in ("index", "target_kind", "class", "coefficients")
            )
        )
    }
    keys = zip(table.column("index").to_pylist(), table.column("target_kind").to_pylist())
    matched = [found.get(key, (None, None)) for key in keys]
    table = table.append_column("concept_class", pa.array([m[0] for m in matched], pa.int64()))
    return table.append_column(
        "concepts", pa.array([m[1] for m in matched], pa.list_(pa.float32()))
    )


class ShardWriter:
    """Writes shards into `out_dir` and keeps the manifest.

    Args:
        out_dir: the audit's folder, created if missing.
        fingerprint: what defines the records (model, data, options), JSON-able.
            A folder holding an audit with another fingerprint is refused.
    """

    def __init__(self, out_dir, fingerprint: dict):
        self.out_dir = Path(out_dir)
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self.parts = self.out_dir / RECORDS
        self._lock = None
        if _read_manifest(self.out_dir) is None:
            self._check_fresh_folder()
        self._lock = _lock(self.out_dir)
        try:
            manifest = _read_manifest(self.out_dir)  # read again, now that no other writes
            if manifest is None:
                manifest = {
                    "version": _VERSION,
                    "fingerprint": self.fingerprint,
                    "shards": {},
                    "complete": False,
                }
            else:
                self._check_same_job(manifest)
            self.manifest = manifest
            self.parts.mkdir(parents=True, exist_ok=True)
            self._drop_damaged_parts()
            self._remove_unlisted_parts()
            self._save_manifest()
        except BaseException:
            self.close()
            raise

    @property
    def done(self) -> set[int]:
        """The shards already written."""
        return {int(shard) for shard in self.manifest["shards"]}

    def write(
        self, shard: int, records: list[dict], arrays: bytes | bytearray | None = None
    ) -> None:
        """Write one shard's records (and its concept arrays, the bytes of
        `concept_arrays.pack`) and list it in the manifest."""
        import pyarrow.parquet as pq

        if str(shard) in self.manifest["shards"]:  # a shard's records come in one piece
            raise RuntimeError(
                f"shard {shard} is already written; writing it again would replace its records"
            )
        name = f"part-{shard:05d}.parquet"
        records = sorted(({**record, "shard": shard} for record in records), key=record_order)
        buffer = io.BytesIO()
        pq.write_table(records_table(records), buffer)
        data = buffer.getvalue()
        entry = {}
        if arrays is not None and not self.is_marked("concepts"):
            # (once learned, concepts stay: a redone shard's arrays are the same)
            side = f"part-{shard:05d}{ARRAYS_SUFFIX}"
            (self.out_dir / ARRAYS).mkdir(exist_ok=True)
            # Not flushed to the disk: the file is a scratch copy, and its CRC in the
            # (flushed) manifest tells a torn or lost file on resuming (the shard is
            # then done again); the CRC guards against accidents, not tampering.
            write_atomically(self.out_dir / ARRAYS / side, arrays)
            entry["arrays"] = {"file": side, "crc32": zlib.crc32(arrays)}
        write_atomically(self.parts / name, data, durable=True)
        images = len({record["index"] for record in records})
        self.manifest["shards"][str(shard)] = {
            "file": name,
            "rows": len(records),
            "images": images,
            "sha256": hashlib.sha256(data).hexdigest(),
            **entry,
        }
        self._save_manifest()

    def array_files(self) -> list:
        """The concept arrays' files of the written shards, in shard order."""
        shards = sorted(self.manifest["shards"].items(), key=lambda entry: int(entry[0]))
        return [self.out_dir / ARRAYS / e["arrays"]["file"] for _, e in shards if "arrays" in e]

    def drop_arrays(self) -> None:
        """Delete the concept arrays (once the concepts are learned from them)."""
        import shutil

        for entry in self.manifest["shards"].values():
            entry.pop("arrays", None)
        self._save_manifest()
        shutil.rmtree(self.out_dir / ARRAYS, ignore_errors=True)

    def mark(self, key: str) -> None:
        """Record in the manifest that a step after the shards is done (`concepts`)."""
        self.manifest.setdefault("done", []).append(key)
        self._save_manifest()

    def is_marked(self, key: str) -> bool:
        return key in self.manifest.get("done", [])

    def finish(self) -> None:
        """Mark the audit complete."""
        self.manifest["complete"] = True
        self._save_manifest()

    def close(self) -> None:
        """Let another audit write into the folder."""
        if self._lock is not None:
            self._lock.close()  # closing the file drops its lock
            self._lock = None

    def _save_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=1, sort_keys=True)
        write_atomically(self.out_dir / MANIFEST, text.encode(), durable=True)

    def _drop_damaged_parts(self) -> None:
        """Unlist shards whose part file is missing or not the bytes written
        (deleted, truncated, replaced, damaged): they are redone."""
        arrays_needed = not self.is_marked("concepts")
        for shard, entry in sorted(self.manifest["shards"].items(), key=lambda e: int(e[0])):
            files = [(self.parts / entry["file"], entry.get("sha256"))]
            if arrays_needed and "arrays" in entry:
                side = entry["arrays"]
                check = side.get("crc32", side.get("sha256"))  # (sha256: earlier versions)
                files.append((self.out_dir / ARRAYS / side["file"], check))
            problem = path = None
            for path, expected in files:
                problem = _damage(path, expected)
                if problem is not None:
                    break
            if problem is not None:
                warnings.warn(
                    f"camlens audit: shard {shard}'s part file {path} is missing or "
                    f"damaged ({problem}); it is done again",
                    stacklevel=3,
                )
                del self.manifest["shards"][shard]
                self.manifest["complete"] = False

    def _check_fresh_folder(self) -> None:
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ValueError(f"out_dir must be a folder. Received: out_dir={self.out_dir} (a file)")
        if self.out_dir.exists() and any(p.name != LOCK for p in self.out_dir.iterdir()):
            raise ValueError(
                f"out_dir is not empty and holds no audit ({MANIFEST} is missing): camlens "
                f"will not write into it. Received: out_dir={self.out_dir}"
            )
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def _check_same_job(self, manifest: dict) -> None:
        if manifest.get("version") != _VERSION:
            raise ValueError(
                f"out_dir holds an audit written by another camlens version. "
                f"Received: out_dir={self.out_dir}"
            )
        previous = manifest["fingerprint"]
        changed = sorted(
            k
            for k in set(previous) | set(self.fingerprint)
            if previous.get(k) != self.fingerprint.get(k)
        )
        if changed:
            detail = "; ".join(
                f"{key}: was {_short(previous.get(key))}, now {_short(self.fingerprint.get(key))}"
                for key in changed
            )
            raise ValueError(
                f"out_dir holds an audit of a different {', '.join(changed)}, so it cannot "
                f"be resumed ({detail}). Use a new folder, or delete {self.out_dir} to start "
                f"over. Received: out_dir={self.out_dir}"
            )

    def _remove_unlisted_parts(self) -> None:
        """Drop part files of shards the manifest does not list (a crash after the
        rename, before the manifest) and temporary files: they are redone."""
        listed = {entry["file"] for entry in self.manifest["shards"].values()}
        listed |= {e["arrays"]["file"] for e in self.manifest["shards"].values() if "arrays" in e}
        for folder in (self.parts, self.out_dir / ARRAYS):
            for path in folder.iterdir() if folder.is_dir() else ():
                if path.name not in listed:
                    path.unlink()


def _damage(path: Path, expected: str | int | None) -> str | None:
    """Why the file at `path` is not the one written (its SHA-256 `expected`, or
    its CRC-32 where an int), or `None`."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror or error}"
    found = zlib.crc32(data) if isinstance(expected, int) else hashlib.sha256(data).hexdigest()
    return None if found == expected else "not the bytes written"


def _read_manifest(out_dir: Path) -> dict | None:
    path = out_dir / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest.get("shards"), dict) or "fingerprint" not in manifest:
            raise ValueError("no shards or fingerprint")
    except (OSError, ValueError, AttributeError) as error:
        raise ValueError(
            f"out_dir's {MANIFEST} cannot be read ({' '.join(str(error).split())}), so the audit "
            f"in it cannot be resumed: use a new folder, or delete {out_dir} to start over. "
            f"Received: out_dir={out_dir}"
        ) from error
    return manifest


def _lock(out_dir: Path):
    """An open lock file holding an exclusive lock on `out_dir`, or `None` where
    the system has no `fcntl` (the lock is then not taken)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    handle = open(out_dir / LOCK, "a")  # noqa: SIM115 - held until the audit ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ValueError(
            f"another camlens audit is writing into out_dir; wait for it to end, or use "
            f"another folder. Received: out_dir={out_dir}"
        ) from None
    return handle


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 100 else text[:97] + "..."


def record_order(record: dict) -> tuple:
    """Records sort by image, then method, then target kind, whichever engine wrote them."""
    return record["index"], record.get("method") or "", record.get("target_kind") or ""


def heatmap_cells(heatmap: np.ndarray) -> list[float]:
    """A (h, w) map as the record's flat float32 list."""
    return np.asarray(heatmap, np.float32).ravel().tolist()
