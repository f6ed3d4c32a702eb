"""A detector of one's own, through the contract: outputs named "boxes" and
"classes", or a `DetectionHead` naming them (and decoding raw boxes).

References: the matched cell found in numpy, the gradient of its class logit
with respect to the feature map the head reads by the backend's autodiff (the
model's graph cut there), Grad-CAM in numpy; the own detections by a greedy
non-max suppression written here.
"""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

import camlens
from camlens.targets import Box, Detections
from support import detectors
from support.hub import gradcam, gradient


def _outputs(model, x):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, model(x, training=False))


def _reference(model, x, row, class_id, classes="classes"):
    features = model.get_layer("features")
    cut = keras.Model(model.input, features.output)(x, training=False)
    cut = keras.ops.convert_to_numpy(cut)
    tail = keras.Model(features.output, model.output[classes])
    _, grads = gradient(lambda f: tail(f, training=False)[0, row, class_id], cut)
    return gradcam(cut[0], grads[0])


def _nms(boxes, confidences, threshold=0.5, min_score=0.5):
    order = [int(i) for i in np.argsort(-confidences) if confidences[i] >= min_score]
    kept = []
    for i in order:
        if all(detectors.iou(boxes[[j]], boxes[i])[0] <= threshold for j in kept):
            kept.append(i)
    return kept


def test_box_on_a_detector_named_by_convention(centernet):
    x = detectors.images(2, size=64, seed=1)
    outputs = _outputs(centernet, x)
    box = np.array([8.0, 20.0, 40.0, 50.0])
    maps = camlens.Explainer(centernet)(x, targets=Box(box, iou=0.05))
    assert maps.layers == ["features"]
    for n in range(2):
        overlaps = detectors.iou(outputs["boxes"][n].astype(np.float64), box)
        row = int(np.argmax(np.where(overlaps >= 0.05, overlaps, -1)))
        class_id = int(outputs["classes"][n, row].argmax())
        assert maps.targets[n, 0] == class_id
        assert maps.scores[n, 0] == pytest.approx(outputs["classes"][n, row, class_id], abs=1e-5)
        expected = _reference(centernet, x[n : n + 1], row, class_id)
        np.testing.assert_allclose(maps.heatmaps[n, 0], expected, atol=1e-4)


def test_own_detections_follow_greedy_non_max_suppression(centernet):
    x = detectors.images(1, size=64, seed=2)
    outputs = _outputs(centernet, x)
    confidences = 1 / (1 + np.exp(-outputs["classes"][0].astype(np.float64)))
    kept = _nms(outputs["boxes"][0].astype(np.float64), confidences.max(-1))[:10]
    assert kept
    maps = camlens.Explainer(centernet)(x)
    np.testing.assert_allclose(maps.boxes[0, : len(kept)], outputs["boxes"][0, kept], atol=1e-5)
    np.testing.assert_array_equal(maps.targets[0, : len(kept)], confidences[kept].argmax(-1))
    for k, row in enumerate(kept[:2]):
        expected = _reference(centernet, x, row, int(confidences[row].argmax()))
        np.testing.assert_allclose(maps.heatmaps[0, k], expected, atol=1e-4)


def test_a_detection_head_names_and_decodes_the_outputs():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(
        8, 3, strides=4, padding="same", activation="relu", name="features"
    )(inputs)
    raw = keras.layers.Reshape((-1, 4), name="raw_boxes")(keras.layers.Conv2D(4, 1)(features))
    scores = keras.layers.Reshape((-1, 2), name="scores")(keras.layers.Conv2D(2, 1)(features))
    model = keras.Model(inputs, [raw, scores])
    centres = (
        np.stack(np.meshgrid(np.arange(8), np.arange(8), indexing="ij"), -1).reshape(-1, 2) + 0.5
    ) * 4

    def decode(raw, image_shape):  # (cy, cx, h, w) offsets around each cell's centre
        ops = keras.ops
        centre = ops.convert_to_tensor(centres.astype("float32")) + raw[..., :2]
        size = 8 * ops.exp(ops.clip(raw[..., 2:], -2, 2))
        return ops.concatenate([centre, size], axis=-1)

    head = camlens.DetectionHead(
        boxes="raw_boxes", classes="scores", box_format="center_yxhw", decode=decode
    )
    x = detectors.images(1, size=32, seed=3)
    raw_out, score_out = (keras.ops.convert_to_numpy(t) for t in model(x))
    cy, cx = centres[:, 0] + raw_out[0, :, 0], centres[:, 1] + raw_out[0, :, 1]
    h, w = (8 * np.exp(np.clip(raw_out[0, :, 2:], -2, 2))).T
    boxes = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], -1)
    target = boxes[13] + 0.5
    maps = camlens.Explainer(model, detector=head)(x, targets=Box(target, iou=0.5))
    overlaps = detectors.iou(boxes, target)
    row = int(np.argmax(overlaps))
    np.testing.assert_allclose(maps.boxes[0, 0], boxes[row], atol=1e-4)
    assert maps.scores[0, 0] == pytest.approx(score_out[0, row].max(), abs=1e-5)
    with pytest.raises(
        ValueError, match=r"names output 'cls'.*outputs are \['raw_boxes', 'scores'\]"
    ):
        camlens.Explainer(model, detector=camlens.DetectionHead("raw_boxes", "cls"))(x)
    with pytest.raises(TypeError, match="detector must be a camlens.DetectionHead"):
        camlens.Explainer(model, detector="boxes")


def test_box_on_a_model_that_is_no_detector(resnet):
    x = np.zeros((1, *resnet.input_shape[1:]), "float32")
    with pytest.raises(ValueError, match="explain a detector's predictions; model 'flat' is not"):
        camlens.Explainer(resnet)(x, targets=Box([0, 0, 4, 4]))
    with pytest.raises(ValueError, match="model 'flat' is not one camlens recognises"):
        camlens.Explainer(resnet)(x, targets=[Detections()])


def test_show_prediction_draws_a_panel_per_detection_with_its_box(centernet):
    x = detectors.images(1, size=64, seed=2)
    names = ["disc", "square", "star"]
    maps = camlens.Explainer(centernet)(x, targets=Detections(k=2))
    picture = camlens.show_prediction(centernet, x, targets=Detections(k=2), target_names=names)
    expl = camlens.explain_prediction(centernet, x, targets=Detections(k=2))
    assert [t.target for t in expl.targets] == maps.targets[0].tolist()
    np.testing.assert_allclose([t.box for t in expl.targets], maps.boxes[0])
    np.testing.assert_allclose([t.proba for t in expl.targets], maps.confidences[0])
    assert picture.width == 2 * 64 + 4  # two panels, side by side
    drawn = np.asarray(camlens.format_as_image(replace(expl, targets=expl.targets[:1])))
    plain = np.asarray(camlens.overlay(expl.image, expl.targets[0].heatmap))
    changed = np.argwhere((drawn != plain).any(axis=-1))
    assert len(changed)  # the box and its label, drawn around the box only
    top, left, bottom, right = maps.boxes[0, 0]
    assert changed[:, 0].min() >= top - 3 and changed[:, 0].max() <= bottom + 3
    assert changed[:, 1].min() >= left - 3
