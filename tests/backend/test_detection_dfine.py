"""keras-hub's D-FINE: a query's map over the encoder levels its decoder reads.

The reference: the matched query found in numpy from the queries' boxes; each
level's feature map, and the logit's gradient with respect to it, by the
backend's own autodiff through the model's layers (the backbone's graph cut at
its levels); Grad-CAM in numpy per level, the levels' maps upsampled to the
finest and averaged.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import camlens
from camlens.resize import upsample
from camlens.targets import Box
from support import detectors
from support.hub import gradcam, gradient

LEVELS = ("decoder_input_proj_identity_0", "decoder_input_proj_identity_1")


def _reference(model, x, box, iou):
    backbone = model.backbone
    levels = [backbone.get_layer(name).output for name in LEVELS]
    features = [
        keras.ops.convert_to_numpy(f)
        for f in keras.Model(backbone.input, levels)(x, training=False)
    ]
    tail = keras.Model(levels, backbone.output["intermediate_logits"])
    outputs = {k: keras.ops.convert_to_numpy(v) for k, v in model(x, training=False).items()}
    decoded = detectors.dfine_boxes(outputs)[0]
    overlaps = detectors.iou(decoded, np.asarray(box, np.float64))
    query = int(np.argmax(np.where(overlaps >= iou, overlaps, -1)))
    class_id = int(outputs["logits"][0, query].argmax())
    maps = []
    for level in range(len(LEVELS)):

        def score(level_map, level=level):
            inputs = [keras.ops.convert_to_tensor(f) for f in features]
            inputs[level] = level_map
            return tail(inputs, training=False)[0, -1, query, class_id]

        value, grads = gradient(score, features[level])
        maps.append(gradcam(features[level][0], grads[0]))
    finest = maps[0].shape
    mean = np.mean([upsample(m, finest) for m in maps], axis=0)
    return mean / (mean.max() + 1e-7), query, class_id, float(value), decoded[query]


def test_box_and_own_detections_read_every_encoder_level(dfine):
    x = detectors.images(1, seed=1)
    outputs = {k: keras.ops.convert_to_numpy(v) for k, v in dfine(x, training=False).items()}
    box = detectors.dfine_boxes(outputs)[0, 7] + np.array([-2, -1, 2, 3])
    expected, query, class_id, logit, matched = _reference(dfine, x, box, 0.3)
    maps = camlens.Explainer(dfine)(x, targets=Box(box, iou=0.3))
    assert maps.targets[0, 0] == class_id
    assert maps.scores[0, 0] == pytest.approx(logit, abs=1e-4)
    np.testing.assert_allclose(maps.boxes[0, 0], matched, atol=1e-3)
    assert maps.layers == [f"{name} (level {i})" for i, name in enumerate(LEVELS)]
    np.testing.assert_allclose(maps.heatmaps[0, 0], expected, atol=1e-4)

    # targets=None: its own decoding's detections, boxes as decode_predictions gives
    # them (one detection and image, as above: the compiled passes are reused)
    decoded = dfine.decode_predictions(dfine(x, training=False), x)
    decoded = {k: keras.ops.convert_to_numpy(v) for k, v in decoded.items()}
    own = camlens.Explainer(dfine)(x, targets=camlens.targets.Detections(k=1))
    assert int(decoded["num_detections"][0]) > 0
    np.testing.assert_allclose(own.boxes[0], decoded["boxes"][0, :1], atol=1e-3)
    assert own.targets[0, 0] == decoded["labels"][0, 0]
    assert own.heatmaps.shape == (1, 1, 8, 8)
