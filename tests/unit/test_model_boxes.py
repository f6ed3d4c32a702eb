"""Finding decoded boxes back among a detector's predictions (`model.boxes.nearest_rows`).

The reference is the plain search: each box's largest coordinate difference
with every row, its first least one.
"""

from __future__ import annotations

import numpy as np
import pytest

from camlens.model.boxes import nearest_rows


def _plain(found, boxes):
    distances = np.abs(boxes[None] - found[:, None]).max(axis=-1)
    rows = distances.argmin(axis=1)
    return rows, distances[np.arange(len(found)), rows]


@pytest.mark.parametrize("noise", [0.0, 0.05, 0.5, 20.0])
def test_nearest_rows_are_the_plain_searchs(noise):
    rng = np.random.default_rng(int(noise * 10))
    boxes = np.round(rng.uniform(0, 64, (600, 4)))  # whole pixels: many tied tops
    boxes[300:400] = boxes[:100]  # and whole boxes repeated: the first row is found
    found = boxes[rng.integers(0, 600, 40)] + rng.normal(0, noise, (40, 4))
    rows, distances = nearest_rows(found, boxes, within=0.25)
    expected_rows, expected = _plain(found, boxes)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(distances, expected)


def test_no_boxes_to_find():
    rows, distances = nearest_rows(np.zeros((0, 4)), np.ones((5, 4)), within=0.25)
    assert rows.shape == distances.shape == (0,)
