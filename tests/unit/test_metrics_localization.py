"""Pointing games on masks whose answer is known by construction."""

import numpy as np
import pytest

from camlens.metrics import boxes_to_masks, energy_pointing_game, pointing_game


def square_masks():
    masks = np.zeros((2, 8, 8), bool)
    masks[0, :4, :4] = True  # object top left
    masks[1, 4:, 4:] = True  # object bottom right
    return masks


def test_perfect_and_inverted_maps():
    masks = square_masks()
    perfect = masks.reshape(2, 4, 2, 4, 2).mean(axis=(2, 4))  # (2, 4, 4), 1 on the object
    inverted = 1.0 - perfect
    np.testing.assert_array_equal(pointing_game(perfect, masks), [True, True])
    np.testing.assert_array_equal(pointing_game(inverted, masks), [False, False])
    # bilinear upsampling blurs the border of the 2x2 cells a little
    assert (energy_pointing_game(perfect, masks) > 0.85).all()
    assert (energy_pointing_game(inverted, masks) < 0.05).all()


def test_uniform_map_shares_energy_by_area():
    masks = square_masks()
    assert energy_pointing_game(np.ones((2, 2, 2)), masks) == pytest.approx([0.25, 0.25])
    assert energy_pointing_game(np.zeros((2, 2, 2)), masks).tolist() == [0.0, 0.0]


def test_tolerance_counts_near_misses():
    masks = np.zeros((1, 10, 10), bool)
    masks[0, 5:, 5:] = True
    heatmap = np.zeros((1, 10, 10))
    heatmap[0, 3, 3] = 1.0  # two pixels off the object's corner
    assert not pointing_game(heatmap, masks)[0]
    assert not pointing_game(heatmap, masks, tolerance=1)[0]
    assert pointing_game(heatmap, masks, tolerance=2)[0]


def test_boxes_to_masks():
    masks = boxes_to_masks(np.array([[1, 2, 3, 5]]), (6, 6))
    assert masks.sum() == 6 and masks[0, 1:3, 2:5].all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="same N"):
        pointing_game(np.zeros((2, 3, 3)), np.zeros((1, 6, 6), bool))
    with pytest.raises(TypeError, match="boolean"):
        pointing_game(np.zeros((1, 3, 3)), np.zeros((1, 6, 6)))
    with pytest.raises(ValueError, match="non-negative"):
        energy_pointing_game(-np.ones((1, 3, 3)), np.ones((1, 6, 6), bool))
