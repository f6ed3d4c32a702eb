"""The records of a batch: predictions, maps, localization and metrics per image.

`BatchAuditor` is the one code path for maps in the audit: it holds one public
`Explainer` per method and turns a batch of decoded items into records, for the
local engine and inside each Ray actor alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .concept_arrays import attach, concept_kind
from .decode import Decoded
from .record_metrics import record_metrics
from .writer import heatmap_cells

TARGET_KINDS = {"top": ("top",), "label": ("label",), "both": ("top", "label")}


@dataclass(frozen=True)
class AuditOptions:
    """What defines the records of an audit (a change refuses to resume)."""

    methods: tuple[str, ...] = ("gradcam",)
    target: str = "top"
    layer: str | int | None = None
    metrics: tuple[str, ...] = ()  # of record_metrics.METRICS
    steps: int = 16
    baseline: str = "blur"
    batch_size: int = 32
    shard_size: int = 256
    size: tuple[int, int] | None = None  # files resized to (height, width) first
    concepts: int = 0  # concepts per class (0: none)

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
        from ..api.explainer import Explainer

        self.model = model
        self.options = options
        self.kinds = TARGET_KINDS[options.target]
        self.explainers = {
            m: Explainer(model, layer=options.layer, method=m) for m in options.methods
        }
        self.overlay_dir = None if overlay_dir is None else Path(overlay_dir)
        self.concept_probe = self.concept_explainer = None
        first = next(iter(self.explainers.values()))
        if options.concepts and first.method.gradients:  # the maps' pass gives the arrays
            self.concept_explainer = first
            first.logit_gradients = True
        elif options.concepts:
            from ..concepts.passes import ConceptProbe

            self.concept_probe = ConceptProbe(model, layer=options.layer)

    def __call__(self, decoded: list[Decoded]) -> list[dict]:
        records = [_failure(d) for d in decoded if d.error is not None]
        good = [d for d in decoded if d.error is None]
        if not good:
            return records
        images = np.stack([np.asarray(d.pixels) for d in good]).astype(np.float32)
        labels = np.array([-1 if d.item.label is None else d.item.label for d in good])
        predicted: np.ndarray | None = None
        scores: np.ndarray | None = None
        carried = None  # the concepts' (activations, logit gradients) from a maps pass
        for method, explainer in self.explainers.items():
            top = None
            for kind in self.kinds:
                if kind == "top":
                    top = arrays = self._maps(explainer, images, None)
                    chosen = np.arange(len(good))
                else:
                    chosen = np.flatnonzero(labels >= 0)
                    arrays = self._label_maps(
                        explainer, images[chosen], labels[chosen], top, chosen
                    )
                heatmaps, targets, target_scores, outputs = arrays[:4]
                if explainer is self.concept_explainer and kind == self.concept_kind:
                    carried = arrays[4:]
                if predicted is None and kind == "top":
                    predicted, scores = outputs.argmax(-1), outputs.max(-1)
                elif predicted is None:
                    predicted, scores = self._predictions(explainer, images)
                assert predicted is not None and scores is not None
                metrics = record_metrics(
                    self.options,
                    explainer,
                    images[chosen],
                    heatmaps,
                    targets,
                    [good[n].mask for n in chosen],
                )
                for row, n in enumerate(chosen):
                    item, size = good[n].item, good[n].image_size
                    assert size is not None, "decoded items know their size"
                    records.append(
                        {
                            "index": item.index,
                            "path": item.path,
                            "label": item.label,
                            "predicted": int(predicted[n]),
                            "predicted_score": float(scores[n]),
                            "method": method,
                            "target_kind": kind,
                            "target": int(targets[row]),
                            "score": float(target_scores[row]),
                            "heatmap": heatmap_cells(heatmaps[row]),
                            "heatmap_height": heatmaps.shape[1],
                            "heatmap_width": heatmaps.shape[2],
                            "image_height": size[0],
                            "image_width": size[1],
                            **{name: values[row] for name, values in metrics.items()},
                        }
                    )
                    if self.overlay_dir is not None:
                        self._write_overlay(records[-1], _picture(good[n]), heatmaps[row])
        if self.options.concepts:
            self._concept_arrays(records, good, images, labels, predicted, carried)
        return records

    @property
    def concept_kind(self) -> str:
        return concept_kind(self.options.target)

    def _concept_arrays(self, records, good, images, labels, predicted, carried) -> None:
        """The activations and class-logit gradients at the explained layer of the
        images of the concepts' kind, put on their records: from the maps' pass
        (`carried`), else from a probe pass of their own."""
        kind = self.concept_kind
        chosen = np.arange(len(good)) if kind == "top" else np.flatnonzero(labels >= 0)
        if not len(chosen):
            return
        classes = predicted[chosen] if kind == "top" else labels[chosen]
        if carried:
            from ..concepts.passes import checked_activations

            layer = next(iter(self.explainers.values())).layer
            activations, gradients = checked_activations(carried[0], layer), carried[1]
        else:
            probe = self.concept_probe
            assert probe is not None, "a probe of its own where no maps pass gives the arrays"
            explainer = next(iter(self.explainers.values()))
            probe.settle(explainer.layer, explainer.output_index)
            activations, gradients, _ = probe(
                probe.prepare(images[chosen]), classes, pad_to=self.options.batch_size
            )
        if activations.shape[-1] < self.options.concepts:
            raise ValueError(
                f"concepts must be at most the explained layer's channels "
                f"({activations.shape[-1]}). Received: concepts={self.options.concepts}"
            )
        ids = [good[n].item.index for n in chosen]
        attach(records, ids, classes, activations, gradients, kind)

    def _maps(self, explainer, images, targets):
        """(heatmaps (n, h, w), targets (n,), scores (n,), outputs (n, C)) for the
        top prediction (`targets=None`) or one class id per image (n,); the probe
        runs at `batch_size` (the last image repeated), so that no new shape is
        traced for a short batch. For the concepts' explainer, then also the
        layer's activations (n, *grid, C) and the class logit's gradients, of
        the same pass."""
        prepared, pad_to = explainer.prepare(images), self.options.batch_size
        concept_arrays = ()
        if explainer is self.concept_explainer:  # explain_prepared's steps, for its arrays
            inputs, result, _ = explainer.method_inputs(prepared, targets, pad_to)
            maps = explainer.maps_of(explainer.method, inputs, result, check=explainer.warns_blank)
            concept_arrays = (result.activations, result.logit_gradients[:, 0])
        else:
            maps = explainer.explain_prepared(prepared, targets, pad_to=pad_to)
        heatmaps, chosen, scores = maps.heatmaps[:, 0], maps.targets[:, 0], maps.scores[:, 0]
        return heatmaps, chosen, scores, maps.outputs, *concept_arrays

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
            parts.append((where, self._maps(explainer, images[where], labels[where])))
        return _assemble(len(images), parts)

    def _predictions(self, explainer, images):
        outputs = self._maps(explainer, images, None)[3]
        return outputs.argmax(-1), outputs.max(-1)

    def _write_overlay(self, record: dict, pixels: np.ndarray, heatmap: np.ndarray) -> None:
        from ..files.writing import write_atomically
        from .report import overlay_png

        assert self.overlay_dir is not None, "overlays are written only when asked for"
        name = f"{record['index']:06d}-{record['method']}-{record['target_kind']}.png"
        write_atomically(self.overlay_dir / name, overlay_png(pixels, heatmap))


def _assemble(count: int, parts: list) -> tuple:
    """Arrays of `count` rows from (positions, arrays) parts covering every row."""
    if not parts:
        return np.empty((0, 1, 1)), np.empty(0, np.int64), np.empty(0), np.empty((0, 1))
    result = tuple(np.empty((count,) + array.shape[1:], array.dtype) for array in parts[0][1])
    for where, arrays in parts:
        for whole, array in zip(result, arrays):
            whole[where] = array
    return result


def _picture(decoded: Decoded) -> np.ndarray:
    """What an overlay is drawn over: the image as given (else the model's input)."""
    return np.asarray(decoded.pixels if decoded.picture is None else decoded.picture)


def _failure(decoded: Decoded) -> dict:
    item = decoded.item
    return {"index": item.index, "path": item.path, "label": item.label, "error": decoded.error}
