"""`Box(score="iou+confidence")`: the IoU of the matched prediction's decoded box
with the Box, plus its confidence in the class (pytorch-grad-cam's box score
target); and a detector's batches of different detection counts joined.

References: the matched prediction found in numpy; the IoU and the decoding
written here in `keras.ops` and differentiated by the backend's autodiff at the
feature map (the model's graph cut there); Grad-CAM in numpy.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import camlens
from camlens.resize import upsample
from camlens.targets import Box, Detections
from support import detectors
from support.hub import gradcam, gradient

LEVELS = ["P3", "P4", "P5", "P6", "P7"]


def _iou(box, target):
    """IoU of one yxyx box tensor (4,) with a numpy box (4,), in keras.ops."""
    ops = keras.ops
    target = np.asarray(target, "float32")
    height = ops.maximum(ops.minimum(box[2], target[2]) - ops.maximum(box[0], target[0]), 0.0)
    width = ops.maximum(ops.minimum(box[3], target[3]) - ops.maximum(box[1], target[1]), 0.0)
    inter = height * width
    area = (box[2] - box[0]) * (box[3] - box[1])
    return inter / (area + (target[2] - target[0]) * (target[3] - target[1]) - inter)


def _centernet_reference(model, x, target, iou=0.05):
    outputs = {k: keras.ops.convert_to_numpy(v) for k, v in model(x, training=False).items()}
    overlaps = detectors.iou(outputs["boxes"][0].astype(np.float64), target)
    row = int(np.argmax(np.where(overlaps >= iou, overlaps, -1)))
    class_id = int(outputs["classes"][0, row].argmax())
    features = model.get_layer("features")
    cut = keras.ops.convert_to_numpy(keras.Model(model.input, features.output)(x, training=False))
    tail = keras.Model(features.output, model.output)

    def score(f):
        out = tail(f, training=False)
        box = out["boxes"][0, row]
        return _iou(box, target) + keras.ops.sigmoid(out["classes"][0, row, class_id])

    value, grads = gradient(score, cut)
    return gradcam(cut[0], grads[0]), class_id, float(value)


def test_iou_and_confidence_on_a_detector_of_ones_own(centernet):
    x = detectors.images(2, size=64, seed=1)
    target = np.array([8.0, 20.0, 40.0, 50.0])
    maps = camlens.Explainer(centernet)(
        x, targets=[Box(target, iou=0.05, score="iou+confidence"), Box(target, iou=0.05)]
    )
    for n in range(2):
        expected, class_id, value = _centernet_reference(centernet, x[n : n + 1], target)
        assert maps.targets[n, 0] == maps.targets[n, 1] == class_id
        assert maps.scores[n, 0] == pytest.approx(value, abs=1e-5)
        np.testing.assert_allclose(maps.heatmaps[n, 0], expected, atol=1e-4)
    assert not np.allclose(maps.heatmaps[:, 0], maps.heatmaps[:, 1], atol=1e-3)  # not the logit's


def test_iou_and_confidence_follow_each_image_through_masked_passes(centernet):
    """Score-CAM scores masked copies of each image: each copy for its own image's box."""
    x = detectors.images(3, size=64, seed=4)
    target = Box([10.0, 10.0, 50.0, 40.0], iou=0.05, score="iou+confidence")
    explainer = camlens.Explainer(centernet, method="scorecam", mask_batch_size=8)
    together = explainer(x, targets=target)
    for n in range(3):
        alone = explainer(x[n : n + 1], targets=target)
        np.testing.assert_allclose(together.heatmaps[n], alone.heatmaps[0], atol=1e-5)
        np.testing.assert_allclose(together.scores[n], alone.scores[0], atol=1e-6)


def test_iou_and_confidence_decode_retinanets_anchors(retinanet):
    x = detectors.images(1, seed=1)
    box = np.array([10.0, 10.0, 60.0, 60.0])
    outputs = {k: keras.ops.convert_to_numpy(v) for k, v in retinanet(x, training=False).items()}
    decoded = detectors.retinanet_boxes(retinanet, outputs)[0]
    overlaps = detectors.iou(decoded, box)
    row = int(np.argmax(np.where(overlaps >= 0.3, overlaps, -1)))
    class_id = int(outputs["cls_logits"][0, row].argmax())
    counts = [(detectors.SIZE // 2**level) ** 2 * 9 for level in range(3, 8)]
    level = int(np.searchsorted(np.cumsum(counts), row, side="right"))
    start = int(np.cumsum(counts)[level] - counts[level])
    anchors = retinanet.anchor_generator(
        np.zeros((1, detectors.SIZE, detectors.SIZE, 3), "float32")
    )
    anchor = np.concatenate([keras.ops.convert_to_numpy(a) for a in anchors.values()])[row]
    features = keras.ops.convert_to_numpy(retinanet.backbone(x)[LEVELS[level]])

    def score(level_map):  # keras-hub's centre_xywh deltas around the anchor, decoded here
        ops = keras.ops
        deltas = ops.reshape(retinanet.box_head(level_map), (1, -1, 4))[0, row - start]
        height, width = anchor[2] - anchor[0], anchor[3] - anchor[1]
        cy, cx = (
            anchor[0] + height / 2 + deltas[1] * height,
            anchor[1] + width / 2 + deltas[0] * width,
        )
        h, w = ops.exp(deltas[3]) * height, ops.exp(deltas[2]) * width
        decoded_box = ops.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2])
        logits = ops.reshape(retinanet.classification_head(level_map), (1, -1, detectors.CLASSES))
        return _iou(decoded_box, box) + ops.sigmoid(logits[0, row - start, class_id])

    value, grads = gradient(score, features)
    maps = camlens.Explainer(retinanet)(x, targets=Box(box, iou=0.3, score="iou+confidence"))
    assert maps.targets[0, 0] == class_id
    assert maps.scores[0, 0] == pytest.approx(float(value), abs=1e-4)
    expected = upsample(gradcam(features[0], grads[0]), maps.heatmaps.shape[2:])
    np.testing.assert_allclose(maps.heatmaps[0, 0], expected, atol=1e-4)


def test_batches_with_different_detection_counts_are_joined(centernet):
    noise = detectors.images(2, size=64, seed=7)
    x = np.stack([np.zeros_like(noise[0]), np.ones_like(noise[0]), noise[0], noise[1] * 0.2])
    logits = keras.ops.convert_to_numpy(centernet(x, training=False)["classes"])
    best = (1 / (1 + np.exp(-logits.astype(np.float64)))).max(axis=(1, 2))
    head = camlens.DetectionHead(min_score=float(best.min() + best.max()) / 2)
    per_image = [camlens.Explainer(centernet, detector=head)(x[n : n + 1]) for n in range(4)]
    counts = [int(m.heatmaps.shape[1]) for m in per_image]
    assert len(set(counts)) > 1, counts  # the case: batches of one find different numbers
    joined = camlens.explain_batch(centernet, x, targets=Detections(), batch_size=1, detector=head)
    width = max(counts)
    assert joined.heatmaps.shape[:2] == (4, width)
    for n, (maps, count) in enumerate(zip(per_image, counts)):
        np.testing.assert_allclose(joined.heatmaps[n, :count], maps.heatmaps[0], atol=1e-6)
        np.testing.assert_array_equal(joined.targets[n, :count], maps.targets[0])
        np.testing.assert_allclose(joined.boxes[n, :count], maps.boxes[0], atol=1e-6)
        assert (joined.heatmaps[n, count:] == 0).all() and (joined.targets[n, count:] == -1).all()
        assert np.isnan(joined.scores[n, count:]).all() and np.isnan(joined.boxes[n, count:]).all()


def test_a_box_score_must_be_one_camlens_knows():
    with pytest.raises(ValueError, match=r"Box\(score\) must be one of .*Received: score='iou'"):
        Box([0, 0, 4, 4], score="iou")
