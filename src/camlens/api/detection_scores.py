"""A `Box`'s IoU + confidence score (`score="iou+confidence"`): pytorch-grad-cam's
box score target for Faster R-CNN, for camlens's detectors.

The score of image n is IoU(the decoded box of prediction `rows[n]`, the Box) plus
the confidence of class `classes[n]` at that prediction, so its gradient flows
through the box regression as well as the class score. It is a callable target
over the detector's outputs, written in `keras.ops` (the detector's decoding
included), and it follows the plan's rows (`for_rows`): a padded batch, or
Score-CAM's masked copies of one image, are each scored for their own image's box.
"""

from __future__ import annotations

import keras
import numpy as np

from ..model.detectors import Detector


class IouAndConfidence:
    """The callable target of `Box(score="iou+confidence")` for N images.

    Args:
        detector, model: the detector and its model.
        image_shape: `(H, W, C)` of the model's input.
        rows, classes: (N,) the prediction and the class explained per image.
        boxes: (N, 4) the Box per image, yxyx input pixels.
    """

    def __init__(self, detector: Detector, model, image_shape: tuple, rows, classes, boxes):
        self.detector, self.model, self.image_shape = detector, model, tuple(image_shape)
        self.rows = np.asarray(rows, np.int32)
        self.classes = np.asarray(classes, np.int32)
        self.boxes = np.asarray(boxes, np.float32)

    def for_rows(self, index) -> IouAndConfidence:
        """The target for the images `index` of this one's (see `TargetPlan.rows`)."""
        return IouAndConfidence(
            self.detector,
            self.model,
            self.image_shape,
            self.rows[index],
            self.classes[index],
            self.boxes[index],
        )

    def __call__(self, outputs):
        ops = keras.ops
        flat = keras.tree.flatten(outputs)
        scores = ops.cast(flat[self.detector.classes], "float32")
        count, predictions, classes = scores.shape
        assert count == len(self.rows), "the plan's rows follow the batch's"
        decoded = self.detector.decode(self.model, flat[self.detector.boxes], self.image_shape)
        row = ops.one_hot(ops.convert_to_tensor(self.rows), predictions, dtype="float32")
        box = ops.sum(decoded * row[:, :, None], axis=1)
        activation = self.detector.activation(self.model)
        confidences = _confidences(ops.sum(scores * row[:, :, None], axis=1), activation)
        picked = ops.one_hot(ops.convert_to_tensor(self.classes), classes, dtype="float32")
        return iou(box, ops.convert_to_tensor(self.boxes)) + ops.sum(confidences * picked, axis=-1)


def iou(boxes, targets):
    """(N,) the IoU of yxyx boxes (N, 4) with `targets` (N, 4), in `keras.ops`."""
    ops = keras.ops
    top = ops.maximum(boxes[:, 0], targets[:, 0])
    left = ops.maximum(boxes[:, 1], targets[:, 1])
    bottom = ops.minimum(boxes[:, 2], targets[:, 2])
    right = ops.minimum(boxes[:, 3], targets[:, 3])
    inter = ops.relu(bottom - top) * ops.relu(right - left)
    union = _area(boxes) + _area(targets) - inter
    return inter / ops.maximum(union, 1e-9)


def _area(boxes):
    ops = keras.ops
    return ops.relu(boxes[:, 2] - boxes[:, 0]) * ops.relu(boxes[:, 3] - boxes[:, 1])


def _confidences(scores, activation: str | None):
    """(N, classes) the confidences of one prediction's class scores."""
    if activation == "sigmoid":
        return keras.ops.sigmoid(scores)
    if activation == "softmax":
        return keras.ops.softmax(scores, axis=-1)
    return scores
