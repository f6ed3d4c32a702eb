"""formatters/boxes.py and model/boxes.py: a detection's box drawn, maps
renormalised inside boxes, IoU and non-max suppression, against hand-made cases."""

import numpy as np
from PIL import Image

from camlens import Explanation, TargetExplanation
from camlens.formatters import format_as_image
from camlens.formatters.boxes import BOX_COLOR, draw_box, renormalized_in_boxes
from camlens.model.boxes import iou, non_max_suppression


def test_maps_are_zero_outside_their_box_and_full_range_inside():
    heatmaps = np.zeros((1, 2, 4, 4))
    heatmaps[0, 0] = np.arange(16).reshape(4, 4) / 15
    heatmaps[0, 1] = 0.5
    boxes = np.array([[[0, 0, 2, 2], [np.nan] * 4]])
    result = renormalized_in_boxes(heatmaps, boxes, (4, 4))
    np.testing.assert_allclose(result[0, 0, :2, :2], [[0, 1 / 5], [4 / 5, 1]])
    assert not result[0, 0, 2:].any() and not result[0, 0, :, 2:].any()
    assert not result[0, 1].any()  # a padded slot stays blank


def test_maps_are_upsampled_to_the_input_before_the_box_is_cut():
    heatmaps = np.ones((1, 1, 2, 2))
    heatmaps[0, 0, 0, 0] = 0.0
    result = renormalized_in_boxes(heatmaps, np.array([[[0, 0, 8, 8]]]), (8, 8))
    assert result.shape == (1, 1, 8, 8)
    assert result[0, 0, 0, 0] == 0 and result[0, 0, 7, 7] == 1


def test_box_is_drawn_at_the_pictures_scale():
    picture = Image.new("RGB", (40, 20), (0, 128, 0))
    drawn = np.asarray(draw_box(picture, (2, 4, 8, 16), input_size=(10, 20)))  # scale 2
    assert tuple(drawn[4, 16]) == BOX_COLOR  # (top 4, left 8) and the outline
    assert tuple(drawn[10, 20]) == (0, 128, 0)  # inside the box, untouched
    assert tuple(np.asarray(picture)[4, 8]) == (0, 128, 0)  # the original is not changed


def test_format_as_image_draws_a_detections_box_with_its_label():
    image = Image.new("RGB", (32, 32), (0, 0, 255))
    target = TargetExplanation(target=1, score=2.0, heatmap=np.zeros((4, 4)), proba=0.9)
    target.box = np.array([8.0, 8.0, 24.0, 24.0])
    expl = Explanation(estimator="det", image=image, targets=[target], target_names=["a", "b"])
    drawn = np.asarray(format_as_image(expl).convert("RGB"))
    target.box = None
    plain = np.asarray(format_as_image(expl).convert("RGB"))
    assert tuple(drawn[24, 16]) == BOX_COLOR  # the bottom edge
    np.testing.assert_array_equal(
        drawn[21:23, 12:22], plain[21:23, 12:22]
    )  # inside, below the label


def test_iou_of_hand_made_boxes():
    boxes = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [5, 5, 6, 6], [0, 0, 4, 4]], float)
    np.testing.assert_allclose(iou(boxes, np.array([0, 0, 2, 2.0])), [1, 1 / 7, 0, 1 / 4])


def test_non_max_suppression_keeps_the_most_confident_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 9, 10]], float)
    confidences = np.array([0.6, 0.9, 0.7, 0.3])
    kept = non_max_suppression(boxes, confidences, iou_threshold=0.5, min_score=0.5, k=10)
    np.testing.assert_array_equal(kept, [1, 2])  # 0 overlaps 1 (IoU 0.81); 3 is below 0.5
    assert list(non_max_suppression(boxes, confidences, 0.5, 0.0, k=1)) == [1]
