"""A detector's predictions explained, one map per detection.

The targets (`Box`, `Detections`, or `None` on a detector) are matched to the
detector's raw predictions in numpy, on the outputs of a first compiled
forward pass: a `Box` to the prediction of highest IoU with it, `Detections`
to the model's own decoding (its non-max suppression). Each becomes a
`DETECTION` slot, one (row, class) per image (`camlens.probe.plan`), so the
compiled probe is keyed by the number of detections, never by which.

The maps are read at the pyramid level that made each prediction (RetinaNet's
anchors), at every level combined (D-FINE's queries read them all), or at the
layer the explainer was given; a `DetectionHead`'s detector at the feature map
its prediction layers read, where the trace shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..methods import drise
from ..methods.fusion import fused
from ..model.boxes import iou, to_yxyx
from ..model.detectors import Detector, Level, detector_of
from ..model.inputs import ModelInputs, as_model_inputs
from ..probe import OUTPUT, probe_for
from ..probe.decoding import decoded
from ..probe.plan import CALLABLE, DETECTION, Slot, TargetPlan
from ..resize import upsample
from ..targets import Box, Detections
from .detection_heads import cut_for, fits, maps_on_head
from .detection_scores import IouAndConfidence
from .results import Maps


def detector_for(explainer, prepared) -> Detector | None:
    """The explainer's model as a detector (`camlens.model.detectors`), `None` if it
    is none (or has several inputs)."""
    batch = as_model_inputs(prepared)
    if batch.slots is not None:
        return None
    outputs = explainer.inspection_for(batch).outputs
    return detector_of(explainer.model, outputs, explainer.detection_head)


def is_detection_call(targets, detector: Detector | None) -> bool:
    """Whether `targets` ask for detections: `Box`, `Detections`, or `None` on a detector."""
    items = targets if isinstance(targets, list) else [targets]
    if any(isinstance(item, (Box, Detections)) for item in items):
        return True
    return targets is None and detector is not None


@dataclass
class Picked:
    """The predictions explained: N images, K targets.

    Attributes:
        rows: (N, K) the prediction (anchor, query) of each target.
        classes: (N, K) the class explained.
        boxes: (N, K, 4) its box, yxyx input pixels.
        valid: (N, K) False where an image has fewer detections than others.
        requested: per target, the (N, 4) yxyx box of a `Box` scored by IoU +
            confidence, else `None`.
    """

    rows: np.ndarray
    classes: np.ndarray
    boxes: np.ndarray
    valid: np.ndarray
    requested: list


def explain_detections(explainer, prepared, targets, pad_to: int | None = None) -> Maps:
    """`Explainer.explain_prepared` for detection targets (see the module's docstring).

    Returns:
        `Maps` with `boxes` (N, K, 4) yxyx input pixels; targets, scores and
        boxes of a padded slot (an image with fewer detections) are -1, NaN
        and NaN, its heatmap 0.
    """
    batch = as_model_inputs(prepared)
    if batch.slots is not None:
        raise ValueError(
            "camlens explains detectors of one image input. Received: a model with "
            f"{len(batch.slots.names)} inputs"
        )
    model = explainer.model
    detector = detector_for(explainer, batch)
    if detector is None:
        raise ValueError(
            f"Box and Detections targets (and layers='levels') explain a detector's "
            f"predictions; model "
            f"'{model.name}' is not one camlens recognises (keras-hub's RetinaNet or "
            "D-FINE, or a model whose outputs are named 'boxes' and 'classes'; otherwise "
            f"pass detector=camlens.DetectionHead(...)). Received: targets={targets!r}"
        )
    images = batch.image
    cut = None if explainer.layer_given or explainer.all_levels else cut_for(model, detector)
    if cut is None:
        outputs, values = probe_for(model, model).outputs(images), None
    else:  # the levels too: a detection's map is then taken on its level's head
        outputs, values = cut.first_pass(images)
    boxes = detector.decoded_boxes(model, outputs, images.shape[1:])
    picked = pick(targets, detector, model, outputs, images, boxes)
    count, width = picked.rows.shape
    plan = _plan(picked, detector, model, images.shape[1:])
    levels = (
        [] if explainer.layer_given else detector.levels(model, explainer.inspection_for(batch))
    )
    if width == 0:
        heatmaps = np.zeros((count, 0) + _finest(explainer, batch, levels))
        maps = Maps(heatmaps, picked.classes, np.zeros((count, 0), np.float32), outputs)
    else:
        variant = explainer.variant(score=OUTPUT)
        variant.detection_similarities = _similarities(model, detector, picked)
        on_head = None if cut is None or not fits(variant, plan) else (cut, values)
        maps = _maps_at_levels(variant, batch, plan, picked, levels, pad_to, on_head)
    invalid = ~picked.valid
    maps.heatmaps[invalid] = 0.0
    maps.targets = np.where(invalid, -1, picked.classes)
    maps.scores = np.where(invalid, np.nan, maps.scores)
    maps.boxes = np.where(invalid[..., None], np.nan, picked.boxes)
    probabilities = detector.confidences(model, detector.class_scores(outputs))
    chosen = probabilities[np.arange(count)[:, None], picked.rows, picked.classes]
    maps.confidences = np.where(invalid, np.nan, chosen)
    maps.input_size = tuple(images.shape[1:3])
    maps.outputs = outputs
    return maps


def pick(targets, detector: Detector, model, outputs, images: np.ndarray, boxes) -> Picked:
    """The predictions `targets` designate in each image (see `Picked`).

    Args:
        boxes: (N, R, 4) every prediction's decoded box.

    Raises:
        ValueError: naming `targets`, for a box outside the image, a class out
            of range, or a box no prediction matches.
    """
    items = [None] if targets is None else targets if isinstance(targets, list) else [targets]
    if not items:
        raise ValueError("targets must not be an empty list. Received: targets=[]")
    scores = detector.class_scores(outputs)
    count, (height, width) = len(images), images.shape[1:3]
    own = None
    columns = []  # per target: rows, classes, valid, each (N, width)
    requested: list = []
    for item in items:
        if isinstance(item, Box):
            target = to_yxyx(item.box, item.box_format, height, width)
            matches = [
                _match(item, target, boxes[n], scores[n], detector, height, width)
                for n in range(count)
            ]
            matched = np.array(matches, np.int64).reshape(count, 2)
            columns.append((matched[:, :1], matched[:, 1:], None))
            requested.append(np.tile(target, (count, 1)) if item.score != "logit" else None)
            continue
        if item is not None and not isinstance(item, Detections):
            raise ValueError(
                "A detector's targets are camlens.targets.Box, Detections or None (its "
                "own detections), or a callable alone (given all its outputs). "
                f"Received: {item!r} in targets={targets!r}"
            )
        own = own or detector.own_detections(model, outputs, images, boxes, decoded)
        columns.append(_detections(item or Detections(), own))
        requested += [None] * columns[-1][0].shape[1]
    rows = np.concatenate([c[0] for c in columns], axis=1).astype(np.int64)
    classes = np.concatenate([c[1] for c in columns], axis=1).astype(np.int64)
    valid = np.concatenate(
        [np.ones(c[0].shape, bool) if c[2] is None else c[2] for c in columns], axis=1
    )
    picked_boxes = np.take_along_axis(boxes, rows[..., None], axis=1)
    return Picked(rows, classes, picked_boxes, valid, requested)


def _plan(picked: Picked, detector: Detector, model, image_shape: tuple) -> TargetPlan:
    """The probe's plan: a `DETECTION` slot per target (its row's class logit), or
    a callable one for a `Box` scored by IoU + confidence."""
    width = picked.rows.shape[1]
    slots: list = []
    masks: list = []
    callables: list = []
    for k, box in enumerate(picked.requested):
        if box is None:
            slots.append(Slot(DETECTION, detector.classes))
            masks.append(picked.rows[:, k].astype(np.int32))
            callables.append(None)
        else:
            slots.append(Slot(CALLABLE))
            masks.append(None)
            rows, classes = picked.rows[:, k], picked.classes[:, k]
            callables.append(IouAndConfidence(detector, model, image_shape, rows, classes, box))
    return TargetPlan(
        slots=tuple(slots),
        ids=picked.classes.astype(np.int32).reshape(len(picked.rows), width),
        masks=tuple(masks),
        callables=tuple(callables),
    )


def _match(box: Box, target, boxes, scores, detector: Detector, height: int, width: int):
    """`(row, class)`: the prediction of highest IoU with `box` (`target`, its yxyx
    input pixels), at least `box.iou`."""
    top, left, bottom, right = target
    overlaps_image = top < height and left < width and bottom > 0 and right > 0
    if not (top < bottom and left < right and overlaps_image):
        raise ValueError(
            f"Box(box) must be a non-empty box that overlaps the image ({height}x{width} "
            "pixels, the model's input): top < bottom, left < right, in pixels of that "
            f"input. Received: {box!r}, as yxyx {np.round(target, 3).tolist()}"
        )
    if box.class_id is not None and box.class_id >= detector.num_classes:
        raise ValueError(
            f"Box(class_id) is out of range: the detector has {detector.num_classes} "
            f"classes, valid ids are 0 to {detector.num_classes - 1}. Received: {box!r}"
        )
    overlaps = iou(boxes, target)
    top_class = scores.argmax(axis=-1)
    eligible = overlaps >= box.iou
    if box.class_id is not None:
        eligible &= top_class == box.class_id
    if not eligible.any():
        which = (
            "any prediction" if box.class_id is None else f"a prediction of class {box.class_id}"
        )
        candidates = (
            overlaps if box.class_id is None else np.where(top_class == box.class_id, overlaps, 0)
        )
        raise ValueError(
            f"No prediction matches {box!r}: it needs {which} with IoU >= {box.iou}; the "
            f"best has IoU {candidates.max():.3f}. Lower Box(iou), or check the box's "
            f"format and scale (input pixels). Received: targets with {box!r}"
        )
    row = int(np.argmax(np.where(eligible, overlaps, -1.0)))
    return row, int(top_class[row] if box.class_id is None else box.class_id)


def _detections(item: Detections, own: list):
    """(rows, classes, valid), each (N, width): the top `k` of each image's own detections."""
    chosen = []
    for rows, labels, confidences in own:
        keep = np.ones(len(rows), bool) if item.min_score is None else confidences >= item.min_score
        chosen.append((rows[keep][: item.k], labels[keep][: item.k]))
    width = max(len(rows) for rows, _ in chosen)
    rows = np.zeros((len(chosen), width), np.int64)
    classes = np.zeros((len(chosen), width), np.int64)
    valid = np.zeros((len(chosen), width), bool)
    for n, (found, labels) in enumerate(chosen):
        rows[n, : len(found)], classes[n, : len(found)], valid[n, : len(found)] = (
            found,
            labels,
            True,
        )
    return rows, classes, valid


def _similarities(model, detector: Detector, picked: Picked):
    """D-RISE's `detection_similarities(n, batch)` for the detections picked."""
    probe = probe_for(model, model)
    targets = np.nan_to_num(picked.boxes)  # a padded slot's map is blanked afterwards

    def similarities(n: int, batch: np.ndarray) -> np.ndarray:
        outputs = probe.outputs(batch)
        boxes = detector.decoded_boxes(model, outputs, batch.shape[1:])
        probabilities = detector.confidences(model, detector.class_scores(outputs))
        return drise.similarities(boxes, probabilities, targets[n], picked.classes[n])

    return similarities


def _maps_at_levels(
    explainer, batch: ModelInputs, plan, picked: Picked, levels, pad_to, on_head=None
) -> Maps:
    """The maps of `plan`: at the explainer's layer, or each at its prediction's level.

    `on_head`: `(cut, values)`, a RetinaNet's `HeadCut` and its levels' values
    from the first pass: each level's maps are then taken on its head alone
    (`api.detection_heads`)."""
    if not explainer.method.uses_layer and levels:  # D-RISE: any layer, maps of the input
        return explainer.variant(layer=levels[0].layer).explain_prepared(batch, plan, pad_to)
    if not levels:
        maps = explainer.explain_prepared(batch, plan, pad_to)
        if explainer.method.uses_layer:
            maps.layers = [layer.name for layer in explainer.layers if layer is not None]
        return maps
    quiet = levels[0].rows is not None  # a level's run holds other levels' detections too
    parts = [
        explainer.variant(layer=level.layer, output_index=level.output_index, warns_blank=not quiet)
        for level in levels
    ]
    if len(parts) == 1:
        maps = parts[0].explain_prepared(batch, plan, pad_to)
        maps.layers = _names(levels)
        return maps
    if levels[0].rows is None or explainer.all_levels:  # every level, combined
        each = [part.explain_prepared(batch, plan, pad_to) for part in parts]
        first = each[0]
        heatmaps = fused([maps.heatmaps for maps in each], explainer.combine, explainer.relu)
        return Maps(heatmaps, first.targets, first.scores, first.outputs, layers=_names(levels))
    level_of = np.searchsorted([level.rows[1] for level in levels], picked.rows, side="right")
    finest = _finest(explainer, batch, levels)
    heatmaps = np.zeros(picked.rows.shape + finest)
    scores = np.zeros(picked.rows.shape, np.float32)
    used = sorted(set(level_of[picked.valid].tolist())) or [0]  # none valid: blanked later
    for index in used:
        if on_head is None:
            result = parts[index].explain_prepared(batch, plan, pad_to)
        else:
            cut, values = on_head
            level = levels[index]
            at = values[level.output_index]
            result = maps_on_head(explainer, cut, level, at, plan, pad_to)
        here = level_of == index
        heatmaps[here] = upsample(result.heatmaps, finest)[here]
        scores[here] = result.scores[here]  # on a head, only its level's are the targets'
    return Maps(heatmaps, result.targets, scores, result.outputs, layers=_names(levels, used))


def _finest(explainer, batch: ModelInputs, levels: list[Level]) -> tuple:
    """The grid of the level with the most positions (the maps' common size)."""
    if not levels:
        return ()
    inspection = explainer.inspection_for(batch)
    shapes = [inspection.output_shape(level.layer, level.output_index) for level in levels]
    grids: list[tuple] = [shape[1:-1] for shape in shapes if shape is not None]
    return max(grids, key=lambda grid: int(np.prod(grid)))


def _names(levels: list[Level], used=None) -> list[str]:
    chosen = levels if used is None else [levels[i] for i in used]
    return [
        level.name if level.name == level.layer.name else f"{level.layer.name} ({level.name})"
        for level in chosen
    ]
