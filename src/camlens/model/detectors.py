"""Detectors as a model kind: what camlens must know to explain one detection.

A detector predicts R boxes per image (RetinaNet's anchors, D-FINE's queries,
the cells of a CenterNet-style head), each with class scores. To explain one of
them camlens needs: which output holds the boxes and which the class scores,
how raw boxes decode to input pixels, how the model picks its own detections
(its non-max suppression), and which feature-pyramid levels a prediction reads.

keras-hub's `RetinaNetObjectDetector` and `DFineObjectDetector` are recognised
by their class (keras-hub is never imported for it); a detector of your own
follows the contract of `DetectionHead`, or simply names its outputs `"boxes"`
and `"classes"`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from ..checks import check_box_format
from .anchors import anchors_of
from .boxes import nearest_rows, non_max_suppression, to_yxyx
from .inspection import Inspection, OutputInfo

ACTIVATIONS = ("sigmoid", "softmax", None)


class DetectionHead:
    """How camlens reads a detector of your own: the documented contract.

    The model's outputs hold, for R predictions per image (anchors, grid
    cells, queries), their boxes (N, R, 4) and their class scores
    (N, R, classes) before any sigmoid or softmax. A model whose outputs are
    named `"boxes"` and `"classes"` (dict keys or output layers' names), boxes
    in yxyx input pixels and class logits under a sigmoid, needs no
    `DetectionHead` at all.

    Args:
        boxes: the box output's name or index.
        classes: the class-score output's name or index.
        box_format: the boxes' format (after `decode`): one of
            `camlens.targets.BOX_FORMATS`, in input pixels (`rel_` ones as
            fractions of the image).
        decode: `None` when the box output holds boxes, or
            `decode(raw, image_shape) -> boxes (N, R, 4)` in `box_format`,
            written with `keras.ops`, on tensors (a `Box` scored by
            IoU + confidence differentiates through it).
        activation: how class scores become confidences: `"sigmoid"` (one per
            class), `"softmax"`, or `None` (they are confidences already).
        iou_threshold: camlens's non-max suppression for `targets=None`: a
            detection overlapping a more confident one by more is dropped.
        min_score: the least confidence of a detection for `targets=None`.

    Example:
        >>> head = camlens.DetectionHead(boxes="box_out", classes="cls_out")
        >>> camlens.Explainer(model, detector=head)(images)   # one map per detection
    """

    def __init__(
        self,
        boxes="boxes",
        classes="classes",
        box_format: str = "yxyx",
        decode: Callable | None = None,
        activation: str | None = "sigmoid",
        iou_threshold: float = 0.5,
        min_score: float = 0.5,
    ):
        for name, value in (("boxes", boxes), ("classes", classes)):
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise TypeError(
                    f"DetectionHead({name}) must be an output's name (str) or index (int). "
                    f"Received: {name}={value!r}"
                )
        check_box_format(box_format, "DetectionHead(box_format)")
        if decode is not None and not callable(decode):
            raise TypeError(
                "DetectionHead(decode) must be None or a function (raw, image_shape) -> "
                f"boxes. Received: decode={decode!r}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"DetectionHead(activation) must be one of {ACTIVATIONS}. "
                f"Received: activation={activation!r}"
            )
        for name, value in (("iou_threshold", iou_threshold), ("min_score", min_score)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    f"DetectionHead({name}) must be a number. Received: {name}={value!r}"
                )
        self.boxes, self.classes, self.box_format = boxes, classes, box_format
        self.decode, self.activation = decode, activation
        self.iou_threshold, self.min_score = float(iou_threshold), float(min_score)

    def __repr__(self) -> str:
        return (
            f"DetectionHead(boxes={self.boxes!r}, classes={self.classes!r}, "
            f"box_format={self.box_format!r})"
        )


@dataclass(frozen=True)
class Level:
    """A feature-pyramid level: the layer (and its output) the map is read at.

    Attributes:
        name: the level's name, e.g. `"P3"`.
        layer: the layer whose output is the level's feature map.
        output_index: which tensor of the layer's output it is.
        rows: `(start, stop)`: the predictions made from this level, or `None`
            when every prediction reads every level (D-FINE's queries).
    """

    name: str
    layer: keras.layers.Layer
    output_index: int = 0
    rows: tuple | None = None


@dataclass(frozen=True, eq=False)
class Detector:
    """What camlens knows of a detector (see `detector_of`).

    Attributes:
        family: `"RetinaNet"`, `"D-FINE"` or `"DetectionHead"`.
        boxes, classes: the indices of the box and class-score outputs in the
            model's flattened outputs.
        num_classes: the size of the class axis.
        head: the contract read (for a detector of your own), else `None`.
    """

    family: str
    boxes: int
    classes: int
    num_classes: int
    head: DetectionHead | None = None

    def decoded_boxes(self, model, outputs, image_shape: tuple) -> np.ndarray:
        """(N, R, 4) the boxes of every prediction, yxyx input pixels, as the model decodes them.

        Args:
            outputs: the model's outputs (numpy), as it returns them.
            image_shape: `(H, W, C)` of the model's input.
        """
        raw = keras.ops.convert_to_tensor(keras.tree.flatten(outputs)[self.boxes], "float32")
        boxes = self.decode(model, raw, image_shape)
        return np.asarray(keras.ops.convert_to_numpy(boxes), np.float64)

    def decode(self, model, raw, image_shape: tuple):
        """`decoded_boxes` in `keras.ops`, differentiable: `raw` (N, R, 4) the box
        output as a tensor, the boxes a float32 tensor (N, R, 4)."""
        height, width = image_shape[:2]
        raw = keras.ops.cast(raw, "float32")
        if self.family == "RetinaNet":
            anchors = np.concatenate(list(_anchors(model, image_shape).values()))
            boxes = keras.utils.bounding_boxes.decode_deltas_to_boxes(
                anchors=keras.ops.convert_to_tensor(anchors, "float32"),
                boxes_delta=raw,
                anchor_format=model.anchor_generator.bounding_box_format,
                box_format=model.bounding_box_format,
                encoded_format="center_xywh",
                image_shape=image_shape,
            )
            box_format = model.bounding_box_format
        elif self.family == "D-FINE":  # queries predict (cx, cy, w, h) as fractions
            boxes = raw * np.asarray([width, height, width, height], np.float32)
            box_format = "center_xywh"
        else:
            assert self.head is not None, "a detector of one's own has its head"
            boxes = raw if self.head.decode is None else self.head.decode(raw, image_shape)
            box_format = self.head.box_format
        if box_format == "yxyx":
            return keras.ops.cast(boxes, "float32")
        return keras.utils.bounding_boxes.convert_format(
            boxes, source=box_format, target="yxyx", height=height, width=width
        )

    def class_scores(self, outputs) -> np.ndarray:
        """(N, R, classes) the class scores of every prediction, as the model outputs them."""
        return np.asarray(keras.tree.flatten(outputs)[self.classes], np.float64)

    def activation(self, model) -> str | None:
        """How the class scores become confidences: `"sigmoid"`, `"softmax"` or `None`."""
        if self.head is not None:
            return self.head.activation
        decoder = getattr(model, "prediction_decoder", None)
        return "sigmoid" if getattr(decoder, "from_logits", True) else None

    def confidences(self, model, scores: np.ndarray) -> np.ndarray:
        """(N, R, classes) the class confidences (probabilities) of `scores`."""
        activation = self.activation(model)
        if activation == "sigmoid":
            return 1 / (1 + np.exp(-scores))
        if activation == "softmax":
            shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
            return shifted / shifted.sum(axis=-1, keepdims=True)
        return scores

    def levels(self, model, inspection: Inspection) -> list[Level]:
        """The levels a map is read at by default; `[]` when camlens cannot tell
        (the automatic choice then searches the model as for any other).

        RetinaNet: its pyramid's outputs, each with its anchors' rows. D-FINE:
        the encoder's levels as its decoder reads them (every query reads them
        all). A `DetectionHead`: the feature map its prediction layer reads,
        where the trace shows one (the class output reshaped from a
        convolution's grid by layers, as a CenterNet-style head does).
        """
        assert inspection.input_shape is not None, "a traced model has an input shape"
        image_shape = inspection.input_shape[1:]
        if self.family == "RetinaNet":
            pyramid = model.backbone.feature_pyramid
            anchors = _anchors(model, image_shape)
            names = sorted(anchors)  # the pyramid's outputs, in keras.tree order
            levels, start = [], 0
            for name, rows in anchors.items():
                stop = start + len(rows)
                levels.append(Level(name, pyramid, names.index(name), (start, stop)))
                start = stop
            return levels
        if self.family == "D-FINE":
            layers = model.backbone.decoder_input_proj_layers
            return [
                Level(f"level {i}", layer[-1] if isinstance(layer, list) else layer)
                for i, layer in enumerate(layers)
            ]
        return _head_input(inspection, self.classes)

    def own_detections(self, model, outputs, images: np.ndarray, boxes: np.ndarray, decode) -> list:
        """The model's own detections, per image: `(rows, labels, confidences)`,
        most confident first.

        keras-hub's detectors decode with their `decode_predictions` (their
        non-max suppression); each detection is found back among the raw
        predictions by its box. A `DetectionHead`'s are camlens's greedy,
        class-agnostic non-max suppression (keras-hub's rule).

        Args:
            boxes: (N, R, 4) the decoded boxes of every prediction.
            decode: `decode(model, outputs, images)`, the model's
                `decode_predictions` as numpy (compiled by the probe).
        """
        confidences = self.confidences(model, self.class_scores(outputs))
        if self.head is not None:
            found = []
            for n in range(len(images)):
                best = confidences[n].max(axis=-1)
                rows = non_max_suppression(
                    boxes[n], best, self.head.iou_threshold, self.head.min_score, len(best)
                )
                found.append((rows, confidences[n][rows].argmax(-1), best[rows]))
            return found
        decoded = decode(model, outputs, images)
        height, width = images.shape[1:3]
        found = []
        for n in range(len(images)):
            count = int(decoded["num_detections"][n])
            chosen = to_yxyx(decoded["boxes"][n][:count], model.bounding_box_format, height, width)
            rows = _rows_of(chosen, boxes[n], height, width)
            found.append(
                (
                    rows,
                    decoded["labels"][n][:count].astype(np.int64),
                    decoded["confidence"][n][:count].astype(np.float64),
                )
            )
        return found


def check_detection_head(detector) -> DetectionHead | None:
    """`detector` if it is `None` or a `DetectionHead`."""
    if detector is not None and not isinstance(detector, DetectionHead):
        raise TypeError(
            "detector must be a camlens.DetectionHead or None. Received: "
            f"detector={detector!r} of type {type(detector).__name__}"
        )
    return detector


def detector_of(model, outputs: Sequence[OutputInfo], head: DetectionHead | None = None):
    """The model's `Detector`, or `None` for a model that is no detector.

    Args:
        outputs: the model's outputs (from its inspection).
        head: the contract given by the user, if any.

    Raises:
        ValueError: when `head` names outputs the model does not have, or of
            the wrong shapes.
    """
    family = _keras_hub_family(model)
    if family == "RetinaNet":
        head_names = ("bbox_regression", "cls_logits")
    elif family == "D-FINE":
        head_names = ("pred_boxes", "logits")
    elif head is not None:
        head_names = (head.boxes, head.classes)
    else:
        names = [info.name for info in outputs]
        if "boxes" not in names or "classes" not in names:
            return None
        head, head_names = DetectionHead(), ("boxes", "classes")
    boxes, classes = (_output_index(outputs, name, head) for name in head_names)
    box_shape, class_shape = outputs[boxes].shape, outputs[classes].shape
    if len(box_shape) != 2 or box_shape[-1] != 4 or len(class_shape) != 2:
        raise ValueError(
            "A detector's box output must be (batch, predictions, 4) and its class "
            "output (batch, predictions, classes). Received: outputs "
            f"{outputs[boxes].name!r} of shape (batch, {', '.join(map(str, box_shape))}) and "
            f"{outputs[classes].name!r} of shape (batch, {', '.join(map(str, class_shape))})"
        )
    if None not in (box_shape[0], class_shape[0]) and box_shape[0] != class_shape[0]:
        raise ValueError(
            "A detector's box and class outputs must have one row per prediction each. "
            f"Received: {box_shape[0]} boxes and {class_shape[0]} class rows"
        )
    return Detector(family or "DetectionHead", boxes, classes, class_shape[-1], head)


def _keras_hub_family(model) -> str | None:
    for cls in type(model).__mro__:
        if cls.__module__.startswith("keras_hub."):
            if cls.__name__ == "RetinaNetObjectDetector":
                return "RetinaNet"
            if cls.__name__ == "DFineObjectDetector":
                return "D-FINE"
    return None


def _output_index(outputs: Sequence[OutputInfo], name, head) -> int:
    names = [info.name for info in outputs]
    if isinstance(name, int):
        if not 0 <= name < len(outputs):
            raise ValueError(
                f"{head!r} names output {name}, out of range for a model with "
                f"{len(outputs)} outputs ({names}). Received: detector={head!r}"
            )
        return name
    if name not in names:
        raise ValueError(
            f"{head!r} names output {name!r}, which the model does not have; its "
            f"outputs are {names}. Received: detector={head!r}"
        )
    return names.index(name)


def _anchors(model, image_shape: tuple) -> dict:
    """RetinaNet's anchors per level, in the order the model concatenates them."""
    return anchors_of(model.anchor_generator, image_shape)


def _head_input(inspection: Inspection, output: int) -> list[Level]:
    """The feature map a head's prediction layer reads, as one level, or `[]`.

    Follows the class output back through layers of (N, R, C) rows to the
    layer that made them from a grid (the prediction convolution), and takes
    the layer whose output that one reads, if it is a grid with more than one
    position."""
    records = [inspection.record(layer) for layer in inspection.layers_in_call_order()]
    producers: dict = {}
    for record in filter(
        None, records
    ):  # innermost first: a nested model outputs its last layer's tensors
        for index, tensor in enumerate(record.outputs):
            producers.setdefault(tensor, (record, index))
    assert inspection.root is not None and inspection.input_shape is not None, "traced"
    outputs = inspection.root.outputs
    found = producers.get(outputs[output]) if output < len(outputs) else None
    rank = len(inspection.input_shape)
    while found is not None and len(found[0].shapes[found[1]]) == 3:
        found = producers.get(found[0].inputs)
    if found is None or len(found[0].shapes[found[1]]) != rank:
        return []
    feature = producers.get(found[0].inputs)
    if feature is None:
        return []
    record, index = feature
    shape = record.shapes[index]
    if len(shape) != rank or np.prod(shape[1:-1]) < 2 or record.calls != 1:
        return []
    return [Level(record.layer.name, record.layer, index)]


def _rows_of(chosen: np.ndarray, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """The rows of `boxes` (R, 4) that the decoded detections `chosen` (D, 4) came from."""
    within = 1e-3 * max(height, width)
    rows, distances = nearest_rows(chosen, boxes, within)
    if (distances > within).any():
        raise ValueError(
            "camlens could not find a detection of the model's decode_predictions among "
            f"its predictions (nearest box {distances.max():.3g} pixels away): is its "
            "prediction_decoder keras-hub's NonMaxSuppression? Received: the model's own "
            "detections"
        )
    return rows
