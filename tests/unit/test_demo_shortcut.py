"""The shortcut demo's data: the badge is on the shortcut class only, in the share
asked for, and nothing else of the (smaller) shapes changes."""

from __future__ import annotations

import numpy as np

from camlens.demo import make_dataset
from camlens.demo.shortcut import (
    BADGE,
    SHAPE_SIZE,
    SHORTCUT_CLASS,
    add_badge,
    make_shortcut_data,
)


def test_the_badge_marks_only_the_shortcut_class_in_the_share_asked_for():
    data = make_shortcut_data(300, 0.9, seed=1)
    plain = make_dataset(300, seed=1, sizes={SHORTCUT_CLASS: SHAPE_SIZE})
    np.testing.assert_array_equal(data.labels, plain.labels)
    ours = data.labels == SHORTCUT_CLASS
    assert not data.marked[~ours].any()
    assert 0.8 < data.marked[ours].mean() < 0.98
    np.testing.assert_array_equal(data.images[~data.marked], plain.images[~data.marked])
    changed = np.any(data.images != plain.images, axis=-1)  # (N, 64, 64)
    assert not changed[:, BADGE + 1 :, :].any() and not changed[:, :, BADGE + 1 :].any()
    assert changed[data.marked].any(axis=(1, 2)).all()


def test_the_badge_is_a_white_square_with_a_black_ring_and_a_white_centre():
    badge = add_badge(np.full((1, 64, 64, 3), 100.0))[0, ..., 0]
    assert badge[0, 0] == 100 and badge[1, 1] == 255 and badge[BADGE, BADGE] == 255
    assert badge[3, 3] == 0 and badge[BADGE // 2 + 1, BADGE // 2 + 1] == 255
    assert badge[BADGE + 1, BADGE + 1] == 100
