"""methods/drise.py's masks: RISE's coarse grids, upsampled and shifted, drawn
per index from the seed."""

import numpy as np

from camlens.methods.drise import random_masks


def test_masks_are_smooth_grids_in_the_unit_range_kept_about_half():
    masks = random_masks(200, (32, 48), cells=8, keep=0.5)
    assert masks.shape == (200, 32, 48)
    assert masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean() - 0.5) < 0.05
    # upsampled from an 8x8 grid: neighbouring pixels differ by at most one cell's slope
    assert np.abs(np.diff(masks, axis=1)).max() <= 1 / (32 / 8) + 1e-9


def test_masks_depend_on_their_index_not_on_the_batch_they_come_in():
    whole = random_masks(10, (16, 16), seed=3)
    np.testing.assert_array_equal(
        np.concatenate(
            [random_masks(4, (16, 16), seed=3), random_masks(6, (16, 16), seed=3, start=4)]
        ),
        whole,
    )
    assert not np.array_equal(random_masks(1, (16, 16), seed=4), whole[:1])
