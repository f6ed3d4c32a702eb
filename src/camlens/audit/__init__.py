"""Audit a model over a whole data set: `camlens.audit(model, data, out_dir)`.

sources (files, tables of paths, in-memory data sets) -> decode (in threads,
ahead of the model) -> engines (local, or Ray Data actors) running the auditor
(records per batch) -> writer (Parquet shards, a manifest for resuming) ->
report (one HTML page with heatmap clusters per class); with `concepts=k`, the
concepts of each class are learned once every shard is written (`concept_results`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..checks import check_choice, check_names, check_positive_int, check_size
from .auditor import TARGET_KINDS, AuditOptions
from .concept_arrays import concept_kind
from .decode import Decoder
from .engines import default_workers, run_local, run_ray
from .record_metrics import METRICS
from .sources import open_source
from .writer import RECORDS, ShardWriter, read_records

__all__ = ["AuditSummary", "audit", "read_records"]

ENGINES = ("local", "ray")


@dataclass
class AuditSummary:
    """What an audit wrote.

    Attributes:
        out_dir: the audit's folder.
        records: the Parquet data set (`out_dir/records.parquet`).
        report: the HTML page, or `None` when none was asked for.
        images: images in the data; `failures`: those that could not be read.
        rows: records written; `seconds`: time of this run.
        class_names: the names of the classes (given, or from the data), or `None`.
    """

    out_dir: Path
    records: Path
    report: Path | None
    images: int
    failures: int
    rows: int
    seconds: float
    class_names: list[str] | None = None

    def line(self) -> str:
        """The one-line summary the command line prints."""
        return (
            f"audited {self.images} images ({self.failures} failed) into {self.rows} "
            f"records in {self.seconds:.1f} s: {self.records}"
            + (f", {self.report}" if self.report else "")
            + (f" (classes: {', '.join(self.class_names)})" if self.class_names else "")
        )


def audit(
    model,
    data,
    out_dir,
    methods=("gradcam",),
    target: str = "top",
    layer=None,
    metrics=False,
    steps: int = 16,
    baseline: str = "blur",
    batch_size: int = 32,
    shard_size: int = 256,
    overlays: bool = False,
    report: bool = True,
    class_names=None,
    size=None,
    engine: str = "local",
    concurrency: int | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    unsafe: bool = False,
    concepts: int = 0,
    image_column: str | None = None,
    label_column: str | None = None,
) -> AuditSummary:
    """Explain every image of a data set; write records, overlays and a report.

    Running the same call again into the same `out_dir` resumes after the last
    finished shard (after a crash, Ctrl-C or `kill -9`); another model, data or
    options are refused there.

    Args:
        model: a Keras model, the path of a `.keras` / `.h5` file (loaded in
            safe mode unless `unsafe`), or a keras-hub preset folder. A model with
            a `preprocessor` (a keras-hub task) gets it applied to each image, as
            `camlens explain` does.
        data: a folder: one sub-folder per class (the layout
            `keras.utils.image_dataset_from_directory` reads; labels are the
            sub-folders' positions in sorted order, or in `class_names`), else
            searched recursively, unlabelled; a glob pattern; a `.csv` / `.parquet`
            table with a `path` column and optional `label`, `class_name`, `mask`
            (a mask image's path) and `top`, `left`, `bottom`, `right` (a box)
            columns; a `.parquet` file whose image column holds the encoded
            images, or a Hugging Face `datasets.Dataset` (or a folder written by
            its `save_to_disk`), labels and class names from its features; or
            an (N, H, W, C) array, an iterable of images or (image, label) pairs,
            a `tf.data.Dataset`, a `keras.utils.PyDataset` or a torch `DataLoader`.
        out_dir: the folder to write (created; must be empty or hold this audit).
        methods: a method name or a list of them (see `Explainer`).
        target: `"top"` (the prediction), `"label"` or `"both"`.
        layer: the layer to explain, as for `Explainer`.
        metrics: `True` for every metric that runs the model again, or some of
            `"deletion"`, `"insertion"` (AUCs; `steps`, `baseline`), `"road"`
            (ROAD combined) and `"max_sensitivity"`. Sparseness and complexity are
            always recorded.
        batch_size: images per forward pass; `shard_size`: images per part file.
        overlays: write one overlay PNG per record into `out_dir/overlays/`.
        report: write `out_dir/report.html`.
        class_names: names indexed by class id, for the report; class folders
            and a `class_name` column take their ids from it. Default: the
            data's own (its class folders, its `class_name` column, a data set's
            label feature), else class ids.
        size: `(height, width)` to resize image files to before the model (or
            its preprocessor): needed for inputs with `None` spatial dimensions
            unless the preprocessor resizes. In-memory images are used as given.
        engine: `"local"` or `"ray"` (Ray Data actors; files only).
        concurrency: Ray actors (default: one per GPU, else CPUs - 1).
        ray_address: a Ray cluster to join (default: the running one, or a new
            local one).
        workers: decoding threads (default: the usable CPUs, at most 8).
        progress: show a progress bar on stderr.
        concepts: learn this many concepts per class (0: none) at the explained
            layer, over the images of each class of the explained target (the
            label with `target="label"`, else the prediction): the records gain
            each concept's coefficient, the report a card per concept. The
            layer's activations must be non-negative (after a ReLU).
        image_column, label_column: the columns of a data set or Parquet file
            of encoded images (default: its only image column; its only
            `ClassLabel` feature, else `label` or `labels`).

    Returns:
        An `AuditSummary`.
    """
    from ..api.progress import progress_bar
    from ..files.models import load_explained_model

    start = time.perf_counter()
    options = _options(
        methods, target, layer, metrics, steps, baseline, batch_size, shard_size, size, concepts
    )
    check_choice(engine, "engine", ENGINES)
    model_path = None
    if isinstance(model, (str, Path)):
        model_path = Path(model)
        model = load_explained_model(model_path, unsafe=unsafe)[0]
    decoder = Decoder(model, options.size, pictures=overlays)  # refuses before any write
    source = open_source(data, class_names, image_column, label_column)
    if options.target != "top" and source.has_labels is False:
        raise ValueError(f"target={target!r} needs labels, and data has none.")
    if engine == "ray" and not source.files:
        raise ValueError(
            "engine='ray' audits files (a folder, a glob or a table of paths). "
            f"Received: data={data if isinstance(data, (str, Path)) else type(data).__name__}"
        )
    items, identity = source.open()
    out_dir = Path(out_dir)
    writer = ShardWriter(
        out_dir,
        {
            "model": model_digest(model),
            "data": identity,
            "options": options.as_dict(),
        },
    )
    try:
        overlay_dir = None
        if overlays:
            overlay_dir = out_dir / "overlays"
            overlay_dir.mkdir(exist_ok=True)
        workers = workers or default_workers()
        done = sum(entry["images"] for entry in writer.manifest["shards"].values())
        with progress_bar(progress, source.length, initial=done, label="camlens audit") as bar:
            if engine == "local":
                run_local(model, options, items, writer, bar, workers, overlay_dir, decoder)
            else:
                if model_path is None:
                    model_path = out_dir / "model.keras"
                    model.save(model_path)
                with _ray(ray_address):
                    run_ray(
                        str(model_path),
                        unsafe,
                        options,
                        items,
                        writer,
                        bar,
                        workers,
                        concurrency,
                        overlay_dir,
                    )
        if options.concepts:
            from .concept_results import learn_concepts

            learn_concepts(writer, options.concepts, concept_kind(options.target), layer)
        writer.finish()
        table = read_records(out_dir)
        page = None
        if report:
            from .report import write_report

            page = write_report(out_dir, options.as_dict(), class_names=source.class_names)
    finally:
        writer.close()
    errors = table.column("error").to_pylist()
    return AuditSummary(
        out_dir=out_dir,
        records=out_dir / RECORDS,
        report=page,
        images=len(set(table.column("index").to_pylist())),
        failures=sum(e is not None for e in errors),
        rows=table.num_rows,
        seconds=time.perf_counter() - start,
        class_names=source.class_names,
    )


def model_digest(model) -> str:
    """A digest of a model's architecture and weights."""
    digest = hashlib.sha256(type(model).__name__.encode())
    with contextlib.suppress(NotImplementedError, TypeError):  # no config: the weights say
        digest.update(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
    for weights in model.get_weights():
        digest.update(str(weights.shape).encode())
        digest.update(weights.tobytes())
    return digest.hexdigest()


def _options(
    methods, target, layer, metrics, steps, baseline, batch_size, shard_size, size, concepts
):
    from ..methods import get_method

    methods = [methods] if isinstance(methods, str) else list(methods)
    methods = tuple(
        get_method(name).name for name in check_names(methods, "methods", "method names")
    )
    check_choice(target, "target", tuple(TARGET_KINDS))
    batch_size = check_positive_int(batch_size, "batch_size")
    shard_size = check_positive_int(shard_size, "shard_size")
    steps = check_positive_int(steps, "steps")
    if isinstance(metrics, bool):
        metrics = METRICS if metrics else ()
    else:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        for name in check_names(metrics, "metrics", "metric names"):
            check_choice(name, "metrics", METRICS)
        metrics = tuple(name for name in METRICS if name in metrics)
    if concepts != 0:
        concepts = check_positive_int(concepts, "concepts")
    if layer is not None and not isinstance(layer, (str, int)):
        raise TypeError(
            "layer must be a layer name or index to be recorded with the audit. "
            f"Received: layer of type {type(layer).__name__}"
        )
    return AuditOptions(
        methods,
        target,
        layer,
        metrics,
        steps,
        baseline,
        batch_size,
        shard_size,
        check_size(size),
        int(concepts),
    )


class _ray:
    """Connects to Ray for the run; shuts down only a cluster it started itself."""

    def __init__(self, address: str | None):
        self.address = address

    def __enter__(self):
        try:
            import ray
        except ImportError as error:
            raise ImportError("engine='ray' needs Ray: pip install 'camlens[ray]'") from error
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        return self

    def __exit__(self, *exc) -> None:
        import ray

        if self.started:
            ray.shutdown()
