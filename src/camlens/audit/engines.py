"""How the audit runs: the records of a batch, and the engines that feed it.

`BatchAuditor` is the one code path for maps: it holds one public `Explainer`
per method and turns a batch of decoded items into records. The local engine
feeds it from the prefetching reader, shard by shard; the Ray engine runs the
same `BatchAuditor` inside Ray Data actors (`map_batches` with a callable class
that loads the model once) and hands the records back to the same writer.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .reader import Decoded, Decoder, Item, prefetch
from .writer import ShardWriter, heatmap_cells, record_order

TARGET_KINDS = {"top": ("top",), "label": ("label",), "both": ("top", "label")}


@dataclass(frozen=True)
class AuditOptions:
    """What defines the records of an audit (a change refuses to resume)."""

    methods: tuple[str, ...] = ("gradcam",)
    target: str = "top"
    layer: str | int | None = None
    metrics: bool = False
    steps: int = 16
    baseline: str = "blur"
    batch_size: int = 32
    shard_size: int = 256
    size: tuple[int, int] | None = None  # files resized to (height, width) first

    def as_dict(self) -> dict:
        return asdict(self)


class BatchAuditor:
    """Records for batches of decoded items: predictions, maps, localization, metrics.

    Args:
        model: the Keras model.
        options: an `AuditOptions`.
        overlay_dir: a folder for one overlay PNG per record, or `None`.
    """

    def __init__(self, model, options: AuditOptions, overlay_dir=None):
        from ..explainer import Explainer

        self.model = model
        self.options = options
        self.kinds = TARGET_KINDS[options.target]
        self.explainers = {m: Explainer(model, layer=options.layer, method=m)
                           for m in options.methods}
        self.overlay_dir = None if overlay_dir is None else Path(overlay_dir)

    def __call__(self, decoded: list[Decoded]) -> list[dict]:
        records = [_failure(d) for d in decoded if d.error is not None]
        good = [d for d in decoded if d.error is None]
        if not good:
            return records
        images = np.stack([d.pixels for d in good]).astype(np.float32)
        labels = np.array([-1 if d.item.label is None else d.item.label for d in good])
        predicted = scores = None
        for method, explainer in self.explainers.items():
            top = None
            for kind in self.kinds:
                if kind == "top":
                    top = heatmaps, targets, target_scores, outputs = self._padded(explainer, images, None)
                    chosen = np.arange(len(good))
                else:
                    chosen = np.flatnonzero(labels >= 0)
                    heatmaps, targets, target_scores, outputs = self._label_maps(
                        explainer, images[chosen], labels[chosen], top, chosen)
                if predicted is None and kind == "top":
                    predicted, scores = outputs.argmax(-1), outputs.max(-1)
                elif predicted is None:
                    predicted, scores = self._predictions(explainer, images)
                metrics = self._metrics(images[chosen], heatmaps, targets,
                                        [good[n].mask for n in chosen])
                for row, n in enumerate(chosen):
                    item = good[n].item
                    records.append({
                        "index": item.index, "path": item.path, "label": item.label,
                        "predicted": int(predicted[n]), "predicted_score": float(scores[n]),
                        "method": method, "target_kind": kind, "target": int(targets[row]),
                        "score": float(target_scores[row]),
                        "heatmap": heatmap_cells(heatmaps[row]),
                        "heatmap_height": heatmaps.shape[1], "heatmap_width": heatmaps.shape[2],
                        "image_height": good[n].image_size[0],
                        "image_width": good[n].image_size[1],
                        **{name: values[row] for name, values in metrics.items()},
                    })
                    if self.overlay_dir is not None:
                        self._write_overlay(records[-1], _picture(good[n]), heatmaps[row])
        return records

    def _padded(self, explainer, images, targets):
        """(heatmaps (n, h, w), targets (n,), scores (n,), outputs (n, C)) for the
        top prediction (`targets=None`) or one class id per image (n,); the batch
        is padded to `batch_size` (the last image and id repeated) so that no new
        shape is traced."""
        count, size = len(images), max(self.options.batch_size, len(images))
        if count < size:
            images = np.concatenate([images, np.repeat(images[-1:], size - count, 0)])
            if targets is not None:
                targets = np.concatenate([targets, np.repeat(targets[-1:], size - count)])
        maps = explainer(images, targets)
        return (maps.heatmaps[:count, 0], maps.targets[:count, 0], maps.scores[:count, 0],
                maps.outputs[:count])

    def _label_maps(self, explainer, images, labels, top, chosen):
        """Maps of each image's label (n,): the top map where the label is the
        prediction (same target, same score), one pass with per-image targets for
        the others."""
        same = np.zeros(len(images), bool)
        if top is not None and explainer.method.class_specific:
            same = top[1][chosen] == labels
        parts = []  # (positions, (heatmaps, targets, scores, outputs))
        if same.any():
            parts.append((np.flatnonzero(same), tuple(array[chosen][same] for array in top)))
        if not same.all():
            where = np.flatnonzero(~same)
            parts.append((where, self._padded(explainer, images[where], labels[where])))
        return _assemble(len(images), parts)

    def _predictions(self, explainer, images):
        outputs = self._padded(explainer, images, None)[3]
        return outputs.argmax(-1), outputs.max(-1)

    def _metrics(self, images, heatmaps, targets, masks) -> dict[str, list]:
        from .. import metrics

        count = len(images)
        result = {}
        located = [n for n, mask in enumerate(masks) if mask is not None]
        if located:
            where = np.array(located)
            object_masks = np.stack([masks[n] for n in located])
            hits = metrics.pointing_game(heatmaps[where], object_masks)
            energy = metrics.energy_pointing_game(heatmaps[where], object_masks)
            result["pointing_game"] = _scatter(count, where, [bool(h) for h in hits])
            result["energy"] = _scatter(count, where, [float(e) for e in energy])
        if self.options.metrics and count:
            args = (self.model, images, heatmaps, targets, self.options.baseline,
                    self.options.steps)
            result["deletion_auc"] = [float(a) for a in metrics.deletion(*args).auc]
            result["insertion_auc"] = [float(a) for a in metrics.insertion(*args).auc]
        return result

    def _write_overlay(self, record: dict, pixels: np.ndarray, heatmap: np.ndarray) -> None:
        from ..files import write_atomically
        from .report import overlay_png

        name = f"{record['index']:06d}-{record['method']}-{record['target_kind']}.png"
        write_atomically(self.overlay_dir / name, overlay_png(pixels, heatmap))


def run_local(model, options: AuditOptions, items: Iterator[Item], writer: ShardWriter,
              bar, workers: int, overlay_dir=None, decoder: Decoder | None = None) -> None:
    """Audit the items not yet written, decoding ahead in `workers` threads
    (with `decoder`, or a `Decoder` of the model and `options.size`)."""
    auditor = BatchAuditor(model, options, overlay_dir)
    if decoder is None:
        decoder = Decoder(model, options.size, pictures=overlay_dir is not None)
    decoded = prefetch(_pending(items, writer.done, options.shard_size), decoder,
                       workers, depth=2 * options.batch_size)
    for shard, group in itertools.groupby(decoded, key=lambda d: d.item.index // options.shard_size):
        records = []
        for batch in _chunks(group, options.batch_size):
            records += auditor(batch)
            bar.update(len(batch))
        writer.write(shard, records)


def run_ray(model_path: str, unsafe: bool, options: AuditOptions, items: Iterator[Item],
            writer: ShardWriter, bar, workers: int, concurrency: int | None,
            overlay_dir=None) -> None:
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
    remote_args = {"runtime_env": {"env_vars": {"KERAS_BACKEND": keras.backend.backend()}}}
    if gpus:
        remote_args["num_gpus"] = 1
    # One block per batch, each block one call: Ray splits the rows evenly into
    # blocks of at most batch_size rows; batch_size=None keeps a block whole (a
    # row count would split bundles of blocks into a full batch and a remainder,
    # two padded passes for one batch of images).
    blocks = -(-len(rows) // options.batch_size)
    dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
        _RayAuditor,
        fn_constructor_args=(str(model_path), unsafe, options, workers,
                             None if overlay_dir is None else str(overlay_dir)),
        batch_size=None,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        **remote_args,
    )
    results = (row for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow")
               for row in table.to_pylist())
    seen = set()
    for shard, group in itertools.groupby(results, key=lambda record: record["shard"]):
        records = list(group)
        writer.write(shard, records)
        new = {record["index"] for record in records} - seen
        seen |= new
        bar.update(len(new))


def default_workers() -> int:
    """Decoding threads: the CPUs this process may use, at most 8."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


class _RayAuditor:
    """The Ray Data actor: loads the model once, decodes and audits batches of rows."""

    def __init__(self, model_path: str, unsafe: bool, options: AuditOptions, workers: int,
                 overlay_dir: str | None):
        from ..explain_cli import load_explained_model

        self.model = load_explained_model(Path(model_path), unsafe=unsafe)[0]
        self.auditor = BatchAuditor(self.model, options, overlay_dir)
        self.decoder = Decoder(self.model, options.size, pictures=overlay_dir is not None)
        self.workers = workers
        self.shard_size = options.shard_size

    def __call__(self, batch):
        from .writer import records_table

        items = [_row_item(row) for row in batch.to_pylist()]
        decoded = list(prefetch(items, self.decoder, self.workers, depth=len(items)))
        records = self.auditor(decoded)
        for record in records:
            record["shard"] = record["index"] // self.shard_size
        return records_table(sorted(records, key=record_order))


def _assemble(count: int, parts: list) -> tuple:
    """Arrays of `count` rows from (positions, arrays) parts covering every row."""
    if not parts:
        return np.empty((0, 1, 1)), np.empty(0, np.int64), np.empty(0), np.empty((0, 1))
    result = tuple(np.empty((count,) + array.shape[1:], array.dtype) for array in parts[0][1])
    for where, arrays in parts:
        for whole, array in zip(result, arrays):
            whole[where] = array
    return result


def _pending(items: Iterator[Item], done: set[int], shard_size: int) -> Iterator[Item]:
    return (item for item in items if item.index // shard_size not in done)


def _chunks(decoded, size: int) -> Iterator[list[Decoded]]:
    iterator = iter(decoded)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _picture(decoded: Decoded) -> np.ndarray:
    """What an overlay is drawn over: the image as given (else the model's input)."""
    return decoded.pixels if decoded.picture is None else decoded.picture


def _failure(decoded: Decoded) -> dict:
    item = decoded.item
    return {"index": item.index, "path": item.path, "label": item.label, "error": decoded.error}


def _scatter(count: int, where: np.ndarray, values: list) -> list:
    result = [None] * count
    for n, value in zip(where, values):
        result[n] = value
    return result


def _item_row(item: Item) -> dict:
    return {"index": item.index, "path": item.path, "label": item.label, "mask": item.mask,
            "box": None if item.box is None else list(item.box)}


def _row_item(row: dict) -> Item:
    box = row.get("box")
    return Item(row["index"], row["path"], row.get("label"), row.get("mask"),
                None if box is None else tuple(box))
