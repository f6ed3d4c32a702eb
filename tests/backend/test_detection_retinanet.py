"""keras-hub's RetinaNet: Box targets, its own detections, and its anchor rows.

References are written here: the matched anchor found in numpy from the anchors
and deltas decoded in numpy, the pyramid level's feature map and the logit's
gradient taken by the backend's own autodiff through the model's head layers,
and Grad-CAM in numpy.
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

LEVELS = ("P3", "P4", "P5", "P6", "P7")


def _outputs(model, x):
    return {k: keras.ops.convert_to_numpy(v) for k, v in model(x, training=False).items()}


def _level_rows():
    """(start, stop) of each level's anchors: a (128 / 2^l)^2 grid, 9 anchors a cell."""
    counts = [(detectors.SIZE // 2**level) ** 2 * 9 for level in range(3, 8)]
    stops = np.cumsum(counts)
    return list(zip(stops - counts, stops))


def _reference(model, x, box, class_id=None, iou=0.5):
    """The map, row, class and level of a Box target, computed without camlens."""
    outputs = _outputs(model, x)
    decoded = detectors.retinanet_boxes(model, outputs)[0]
    logits = outputs["cls_logits"][0]
    overlaps = detectors.iou(decoded, np.asarray(box, np.float64))
    eligible = overlaps >= iou
    if class_id is not None:
        eligible &= logits.argmax(-1) == class_id
    row = int(np.argmax(np.where(eligible, overlaps, -1)))
    class_id = int(logits[row].argmax()) if class_id is None else class_id
    level = next(i for i, (start, stop) in enumerate(_level_rows()) if start <= row < stop)
    start = _level_rows()[level][0]
    features = keras.ops.convert_to_numpy(model.backbone(x)[LEVELS[level]])

    def score(level_map):
        rows = keras.ops.reshape(model.classification_head(level_map), (1, -1, detectors.CLASSES))
        return rows[0, row - start, class_id]

    value, grads = gradient(score, features)
    return gradcam(features[0], grads[0]), row, class_id, level, float(value), decoded[row]


@pytest.mark.parametrize("box", [[10, 10, 60, 60], [0, 0, 128, 128], [40, 70, 100, 126]])
def test_box_is_the_logit_of_its_matched_anchor_at_its_level(retinanet, box):
    x = detectors.images(1, seed=1)
    expected, row, class_id, level, logit, matched = _reference(retinanet, x, box, iou=0.3)
    maps = camlens.Explainer(retinanet)(x, targets=Box(box, iou=0.3))
    finest = (detectors.SIZE // 8,) * 2
    assert maps.heatmaps.shape == (1, 1, *finest)
    assert maps.targets[0, 0] == class_id
    assert maps.scores[0, 0] == pytest.approx(logit, abs=1e-4)
    np.testing.assert_allclose(maps.boxes[0, 0], matched, atol=1e-3)
    assert maps.layers == [f"fpn ({LEVELS[level]})"]
    np.testing.assert_allclose(maps.heatmaps[0, 0], upsample(expected, finest), atol=1e-4)
    at_level = camlens.Explainer(retinanet, layer="fpn", output_index=level)
    np.testing.assert_allclose(
        at_level(x, targets=Box(box, iou=0.3)).heatmaps[0, 0], expected, atol=1e-4
    )


def test_box_with_a_class_explains_that_class(retinanet):
    x = detectors.images(2, seed=2)
    box = [20, 30, 70, 90]
    maps = camlens.Explainer(retinanet)(
        x, targets=[Box(box, class_id=2, iou=0.2), Box(box, iou=0.2)]
    )
    for n in range(2):
        expected, row, class_id, level, logit, _ = _reference(retinanet, x[n : n + 1], box, 2, 0.2)
        assert maps.targets[n, 0] == 2
        assert maps.scores[n, 0] == pytest.approx(logit, abs=1e-4)
        finest = maps.heatmaps.shape[2:]
        np.testing.assert_allclose(maps.heatmaps[n, 0], upsample(expected, finest), atol=1e-4)


def test_targets_none_explains_the_models_own_detections_in_order(retinanet):
    x = detectors.images(2, seed=3)
    decoded = retinanet.decode_predictions(retinanet(x, training=False), x)
    decoded = {k: keras.ops.convert_to_numpy(v) for k, v in decoded.items()}
    maps = camlens.Explainer(retinanet)(x)
    explicit = camlens.Explainer(retinanet)(x, targets=Detections(k=4))
    for n in range(2):
        count = min(10, int(decoded["num_detections"][n]))
        assert count > 0
        np.testing.assert_allclose(maps.boxes[n, :count], decoded["boxes"][n, :count], atol=1e-3)
        np.testing.assert_array_equal(maps.targets[n, :count], decoded["labels"][n, :count])
        assert (maps.targets[n, count:] == -1).all() and np.isnan(maps.boxes[n, count:]).all()
        np.testing.assert_allclose(explicit.boxes[n], maps.boxes[n, :4])
        np.testing.assert_allclose(explicit.heatmaps[n], maps.heatmaps[n, :4], atol=1e-6)
    # each map is its detection's Box map
    box = decoded["boxes"][0, 1]
    single = camlens.Explainer(retinanet)(
        x[:1], targets=Box(box, class_id=int(decoded["labels"][0, 1]), iou=0.99)
    )
    np.testing.assert_allclose(single.heatmaps[0, 0], maps.heatmaps[0, 1], atol=1e-5)


def test_explanation_carries_the_boxes(retinanet):
    x = detectors.images(1, seed=3)
    expl = camlens.explain_prediction(retinanet, x, targets=Detections(k=3))
    assert len(expl.targets) == 3
    assert all(t.box.shape == (4,) and t.heatmap.shape == (16, 16) for t in expl.targets)
    assert expl.layer.startswith("fpn (P")


def test_anchor_rows_are_never_read_as_a_token_grid(retinanet):
    x = detectors.images(1, seed=4)
    maps = camlens.Explainer(retinanet)(
        x, targets=[lambda o: keras.ops.max(o["cls_logits"][..., 1], axis=1)]
    )
    assert maps.heatmaps.shape[2:] != (48, 48)
    with pytest.raises(ValueError, match=r"2304 rows made from a grid of 256 positions"):
        camlens.Explainer(retinanet, layer="cls_pred_P3")(x, targets=Box([0, 0, 64, 64], iou=0.01))
    with pytest.raises(ValueError, match=r"cls_pred_P3.*rows"):
        camlens.Explainer(retinanet, layer="cls_pred_P3", token_grid=(48, 48))(
            x, targets=[lambda o: o["cls_logits"][:, 0, 0]]
        )
    with pytest.raises(ValueError, match="rows made from a grid"):
        camlens.Explainer(retinanet, layer="cls_logits")(
            x, targets=[lambda o: o["cls_logits"][:, 0, 0]]
        )


def test_bad_detection_targets_say_what_is_wrong(retinanet):
    x = detectors.images(1, seed=5)
    explainer = camlens.Explainer(retinanet)
    with pytest.raises(ValueError, match=r"Box\(box\) must be a non-empty box that overlaps"):
        explainer(x, targets=Box([200, 10, 300, 60]))
    with pytest.raises(ValueError, match=r"Box\(box\) must be a non-empty box"):
        explainer(x, targets=Box([60, 10, 10, 60]))
    with pytest.raises(ValueError, match=r"No prediction matches Box"):
        explainer(x, targets=Box([0, 0, 2, 2], iou=0.9))
    with pytest.raises(ValueError, match=r"Box\(class_id\) is out of range.*3 classes"):
        explainer(x, targets=Box([0, 0, 64, 64], class_id=3))
    with pytest.raises(ValueError, match=r"Box\(box_format\) must be one of"):
        Box([0, 0, 64, 64], box_format="cxcywh")
    with pytest.raises(ValueError, match="A detector's targets are"):
        explainer(x, targets=[Box([0, 0, 64, 64], iou=0.01), 1])


def test_box_formats_are_converted(retinanet):
    x = detectors.images(1, seed=6)
    yxyx = camlens.Explainer(retinanet)(x, targets=Box([20, 30, 80, 100], iou=0.2))
    xyxy = camlens.Explainer(retinanet)(
        x, targets=Box([30, 20, 100, 80], iou=0.2, box_format="xyxy")
    )
    relative = camlens.Explainer(retinanet)(
        x, targets=Box(np.array([20, 30, 80, 100]) / 128, iou=0.2, box_format="rel_yxyx")
    )
    np.testing.assert_array_equal(yxyx.boxes, xyxy.boxes)
    np.testing.assert_array_equal(yxyx.boxes, relative.boxes)
    np.testing.assert_allclose(yxyx.heatmaps, xyxy.heatmaps)


def test_all_levels_combined_and_maps_renormalised_in_their_boxes(retinanet, resnet):
    x = detectors.images(1, seed=1)
    box = [10, 10, 60, 60]
    expected, *_ = _reference(retinanet, x, box, iou=0.3)
    maps = camlens.Explainer(retinanet, layers="levels")(x, targets=Box(box, iou=0.3))
    assert maps.layers == [f"fpn ({level})" for level in LEVELS]
    mean = upsample(expected, (16, 16)) / len(LEVELS)  # the other levels' gradients are 0
    np.testing.assert_allclose(maps.heatmaps[0, 0], mean / (mean.max() + 1e-7), atol=1e-4)

    inside = maps.in_boxes()
    top, left, bottom, right = maps.boxes[0, 0]
    assert inside.heatmaps.shape == (1, 1, detectors.SIZE, detectors.SIZE)
    rows, columns = np.mgrid[: detectors.SIZE, : detectors.SIZE] + 0.5
    outside = (rows < top) | (rows >= bottom) | (columns < left) | (columns >= right)
    assert not inside.heatmaps[0, 0][outside].any()
    assert inside.heatmaps[0, 0][~outside].max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="layers='levels'"):
        camlens.Explainer(resnet, layers="levels")(
            np.zeros((1, *resnet.input_shape[1:]), "float32")
        )


def test_own_detections_follow_a_changed_decoder():
    """The compiled decoding is traced again when the decoder's settings change in
    place or the decoder is replaced: the detections are always the model's own."""
    import keras_hub

    model = detectors.retinanet()  # changed below: not the shared fixture
    x = detectors.images(1, seed=3)

    def own_count():
        decoded = model.decode_predictions(model(x, training=False), x)
        return int(keras.ops.convert_to_numpy(decoded["num_detections"])[0])

    def explained_count():
        return int((camlens.Explainer(model)(x).targets[0] >= 0).sum())

    before = own_count()
    assert explained_count() == min(before, 10)
    confidences = camlens.Explainer(model)(x, targets=Detections(k=10)).confidences[0]
    model.prediction_decoder.confidence_threshold = float(np.nanmedian(confidences))
    fewer = own_count()
    assert 0 < fewer < before and explained_count() == min(fewer, 10)
    model.prediction_decoder = keras_hub.layers.NonMaxSuppression(
        bounding_box_format="yxyx", from_logits=True, confidence_threshold=0.05, max_detections=2
    )
    assert own_count() == 2 and explained_count() == 2


def test_targets_at_different_levels_each_match_their_own_reference(retinanet):
    """Two boxes matched at different levels, in two images: the maps are taken on
    each level's head alone (`api.detection_heads`); each map, class and score is
    its own reference's, those of the other level's run are not kept."""
    x = np.concatenate([detectors.images(1, seed=1), detectors.images(1, seed=2)])
    small, large = [10, 10, 60, 60], [0, 0, 128, 128]
    maps = camlens.Explainer(retinanet)(x, targets=[Box(small, iou=0.3), Box(large, iou=0.3)])
    finest = (detectors.SIZE // 8,) * 2
    seen = set()
    for n in range(2):
        for k, box in enumerate((small, large)):
            image = x[n : n + 1]
            expected, _, class_id, level, logit, _ = _reference(retinanet, image, box, iou=0.3)
            seen.add(level)
            assert maps.targets[n, k] == class_id
            assert maps.scores[n, k] == pytest.approx(logit, abs=1e-4)
            np.testing.assert_allclose(maps.heatmaps[n, k], upsample(expected, finest), atol=1e-4)
    assert len(seen) > 1, "the boxes are matched at different levels"


def test_anchors_at_the_levels_corners_match_the_whole_levels_reference(retinanet):
    """Boxes in the image's corners match anchors on the border of their level: the
    gradient pass runs the head on a window of the level around each anchor
    (`api.detection_crops`), shifted inside the level there; each map, class and
    score is still the reference's, taken through the head on the whole level."""
    x = detectors.images(2, seed=7)
    end = detectors.SIZE
    corners = [[0, 0, 12, 12], [end - 12, end - 12, end, end]]
    corners += [[0, end - 20, 20, end], [end - 40, 0, end, 40]]
    maps = camlens.Explainer(retinanet)(x, targets=[Box(box, iou=0.01) for box in corners])
    finest = (detectors.SIZE // 8,) * 2
    bordering = set()
    for n in range(2):
        for k, box in enumerate(corners):
            image = x[n : n + 1]
            expected, row, class_id, level, logit, _ = _reference(retinanet, image, box, iou=0.01)
            side = detectors.SIZE // 2 ** (level + 3)
            i, j = divmod((row - _level_rows()[level][0]) // 9, side)
            if min(i, j) < 2 or max(i, j) >= side - 2:  # the head reads 2 positions around
                bordering.add(level)
            assert maps.targets[n, k] == class_id
            assert maps.scores[n, k] == pytest.approx(logit, abs=1e-4)
            np.testing.assert_allclose(maps.heatmaps[n, k], upsample(expected, finest), atol=1e-4)
    assert bordering & {0, 1}, "an anchor within the head's reach of a border, at P3 or P4"
