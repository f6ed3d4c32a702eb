"""How the audit runs: the local engine and the Ray engine, feeding one `BatchAuditor`.

The local engine decodes ahead in threads and audits shard by shard; the Ray
engine runs the same `BatchAuditor` inside Ray Data actors (`map_batches` with
a callable class that loads the model once) and hands the records back, in
order, to the same writer.

What Ray does when a worker dies (its process killed, or its node lost): the
actor is started again (up to `ACTOR_RESTARTS` times each, on any node with a
free CPU) and the batch it was working on is sent again (up to `TASK_RETRIES`
times), so every image is audited once; the records are written by the driver
only. Ray Data's own defaults retry without end, so a batch that kills its
worker every time would hang the audit: the bounds end it with an error instead.
An error raised by camlens inside an actor (a bad layer, say) is not retried: it
ends the audit, whose finished shards are kept for resuming.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..methods import BUILT_IN, get_method, register
from .auditor import AuditOptions, BatchAuditor
from .concept_arrays import CONCEPT_KEY, from_bytes, pack, to_bytes
from .decode import Decoded, Decoder, prefetch
from .items import Item
from .writer import ShardWriter, record_order

ACTOR_RESTARTS = 4
"""How many times Ray starts an audit actor again after its process died."""

TASK_RETRIES = 4
"""How many times Ray sends a batch again after the actor running it died."""


def run_local(
    model,
    options: AuditOptions,
    items: Iterator[Item],
    writer: ShardWriter,
    bar,
    workers: int,
    overlay_dir=None,
    decoder: Decoder | None = None,
) -> None:
    """Audit the items not yet written, decoding ahead in `workers` threads
    (with `decoder`, or a `Decoder` of the model and `options.size`)."""
    auditor = BatchAuditor(model, options, overlay_dir)
    if decoder is None:
        decoder = Decoder(model, options.size, pictures=overlay_dir is not None)
    decoded = prefetch(
        _pending(items, writer.done, options.shard_size),
        decoder,
        workers,
        depth=2 * options.batch_size,
    )
    with _WrittenBehind(writer) as behind:
        for shard, group in itertools.groupby(
            decoded, key=lambda d: d.item.index // options.shard_size
        ):
            records = []
            for batch in _chunks(group, options.batch_size):
                records += auditor(batch)
                bar.update(len(batch))
            behind.write(shard, records)


def run_ray(
    model_path: str,
    unsafe: bool,
    options: AuditOptions,
    items: Iterator[Item],
    writer: ShardWriter,
    bar,
    workers: int,
    concurrency: int | None,
    overlay_dir=None,
) -> None:
    """The same audit on Ray Data: one actor per `concurrency`, each loading the
    model once and keeping one `BatchAuditor`; records come back in order."""
    import keras
    import ray

    rows = [_item_row(item) for item in _pending(items, writer.done, options.shard_size)]
    if not rows:
        return
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if concurrency is None:
        concurrency = gpus or max(1, int(resources.get("CPU", 2)) - 1)
    # Methods registered in this process reach the actors with their functions.
    registered = [get_method(name) for name in options.methods if name not in BUILT_IN]
    # One block per batch, each block one call: Ray splits the rows evenly into
    # blocks of at most batch_size rows; batch_size=None keeps a block whole (a
    # row count would split bundles of blocks into a full batch and a remainder,
    # two padded passes for one batch of images).
    blocks = -(-len(rows) // options.batch_size)
    # The bounds on restarts and retries have no named parameter in Ray 2.60: they
    # go as free-form remote arguments, which Ray deprecates (removed in 2.64, below
    # which the `ray` extra stays); its warning is about that alone.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            _RayAuditor,
            fn_constructor_args=(
                str(model_path),
                unsafe,
                options,
                workers,
                None if overlay_dir is None else str(overlay_dir),
                registered,
            ),
            batch_size=None,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            num_gpus=1 if gpus else None,
            runtime_env={"env_vars": {"KERAS_BACKEND": keras.backend.backend()}},
            max_restarts=ACTOR_RESTARTS,
            max_task_retries=TASK_RETRIES,
        )
    results = (
        row
        for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow")
        for row in table.to_pylist()
    )
    seen: set[int] = set()
    for shard, group in itertools.groupby(results, key=lambda record: record["shard"]):
        records = list(group)
        for record in records:
            record[CONCEPT_KEY] = from_bytes(record.get(CONCEPT_KEY))
        writer.write(shard, records, pack(records))
        new = {record["index"] for record in records} - seen
        seen |= new
        bar.update(len(new))


class _WrittenBehind:
    """Writes the local engine's shards in one background thread while the next
    shard is audited (packing the concept arrays, Arrow and the file writes mostly
    release the GIL): one shard at a time, in order, each listed in the manifest
    once written as before. A failed write raises at the next shard or at the end;
    however the loop ends, the write under way is finished first."""

    def __init__(self, writer: ShardWriter):
        self.writer = writer
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="camlens-audit-writer")
        self.pending: Future | None = None

    def write(self, shard: int, records: list[dict]) -> None:
        self.wait()
        self.pending = self.pool.submit(self._write, shard, records)

    def wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def _write(self, shard: int, records: list[dict]) -> None:
        self.writer.write(shard, records, pack(records))

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if kind is None:
                self.wait()
        finally:  # (after an error of its own, a failed write would only hide it)
            self.pool.shutdown(wait=True)


def default_workers() -> int:
    """Decoding threads: the CPUs this process may use, at most 8."""
    return max(
        1,
        min(
            8,
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1,
        ),
    )


class _RayAuditor:
    """The Ray Data actor: loads the model once, decodes and audits batches of rows."""

    def __init__(
        self,
        model_path: str,
        unsafe: bool,
        options: AuditOptions,
        workers: int,
        overlay_dir: str | None,
        registered: list,
    ):
        from ..files.models import load_explained_model

        for method in registered:
            register(method, replace=True)
        self.model = load_explained_model(Path(model_path), unsafe=unsafe)[0]
        self.auditor = BatchAuditor(self.model, options, overlay_dir)
        self.decoder = Decoder(self.model, options.size, pictures=overlay_dir is not None)
        self.workers = workers
        self.shard_size = options.shard_size

    def __call__(self, batch):
        import pyarrow as pa

        from .writer import records_table

        items = [_row_item(row) for row in batch.to_pylist()]
        decoded = list(prefetch(items, self.decoder, self.workers, depth=len(items)))
        records = sorted(self.auditor(decoded), key=record_order)
        arrays = [to_bytes(record) for record in records]
        for record in records:
            record["shard"] = record["index"] // self.shard_size
        table = records_table(records)
        return table.append_column(CONCEPT_KEY, pa.array(arrays, pa.binary()))


def _pending(items: Iterator[Item], done: set[int], shard_size: int) -> Iterator[Item]:
    return (item for item in items if item.index // shard_size not in done)


def _chunks(decoded, size: int) -> Iterator[list[Decoded]]:
    iterator = iter(decoded)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _item_row(item: Item) -> dict:
    return {
        "index": item.index,
        "path": item.path,
        "label": item.label,
        "mask": item.mask,
        "box": None if item.box is None else list(item.box),
    }


def _row_item(row: dict) -> Item:
    box = row.get("box")
    return Item(
        row["index"],
        row["path"],
        row.get("label"),
        row.get("mask"),
        None if box is None else tuple(box),
    )
