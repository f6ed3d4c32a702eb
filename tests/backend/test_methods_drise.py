"""D-RISE against a numpy reference written here, with the masks fixed by the seed:
each masked image run through the detector, its predictions compared with the
target detection (IoU x confidence x cosine of class vectors), the masks summed
with those weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import camlens
from camlens.methods import Method, register, unregister
from camlens.methods.drise import method_maps, random_masks
from camlens.targets import Box, Detections
from support import detectors

MASKS = 24


@pytest.fixture
def drise_24():
    register(
        Method("drise-24", "D-RISE", raw_maps=method_maps(MASKS), gradients=False, uses_layer=False)
    )
    yield "drise-24"
    unregister("drise-24")


def _reference(model, image, box, class_id):
    masks = random_masks(MASKS, image.shape[:2])
    outputs = model(image[None] * masks[..., None].astype("float32"), training=False)
    boxes = keras.ops.convert_to_numpy(outputs["boxes"]).astype(np.float64)
    probabilities = 1 / (
        1 + np.exp(-keras.ops.convert_to_numpy(outputs["classes"]).astype(np.float64))
    )
    weights = []
    for m in range(MASKS):
        cosine = probabilities[m, :, class_id] / np.linalg.norm(probabilities[m], axis=-1)
        weights.append(np.max(detectors.iou(boxes[m], box) * probabilities[m].max(-1) * cosine))
    saliency = np.einsum("m,mhw->hw", np.array(weights), masks)
    return np.maximum(saliency, 0) / (np.maximum(saliency, 0).max() + 1e-7)


def test_drise_weighs_each_mask_by_its_best_matching_prediction(centernet, drise_24):
    x = detectors.images(2, size=64, seed=4)
    explainer = camlens.Explainer(centernet, method=drise_24, mask_batch_size=10)
    maps = explainer(x, targets=[Box([8, 20, 40, 50], iou=0.05), Detections(k=1)])
    assert maps.heatmaps.shape == (2, 2, 64, 64)
    for n in range(2):
        for k in range(2):
            expected = _reference(centernet, x[n], maps.boxes[n, k], int(maps.targets[n, k]))
            np.testing.assert_allclose(maps.heatmaps[n, k], expected, atol=1e-4)


def test_drise_needs_detection_targets(resnet):
    x = np.zeros((1, *resnet.input_shape[1:]), "float32")
    with pytest.raises(ValueError, match="D-RISE explains a detector's detections"):
        camlens.Explainer(resnet, method="drise")(x)
