"""The synthetic shapes data set (the demo model: backend/test_demo_model)."""

from __future__ import annotations

import numpy as np
import pytest

from camlens.demo import CLASS_NAMES, IMAGE_SIZE, ShapesDataset, make_dataset

# scripts/train_demo_model.py trains and checks on data seeds 1 and 2; the tests
# use seeds far from those.
TEST_SEED = 12345


@pytest.fixture(scope="module")
def data() -> ShapesDataset:
    return make_dataset(300, seed=TEST_SEED)


def test_dataset_types_and_shapes(data):
    n, size = 300, IMAGE_SIZE
    assert len(data) == n
    assert data.images.shape == (n, size, size, 3) and data.images.dtype == np.float32
    assert data.labels.shape == (n,) and data.labels.dtype == np.int64
    assert data.masks.shape == (n, size, size) and data.masks.dtype == bool
    assert data.boxes.shape == (n, 4) and np.issubdtype(data.boxes.dtype, np.integer)


def test_dataset_values(data):
    assert data.images.min() >= 0.0 and data.images.max() <= 255.0
    assert np.all(data.images == np.round(data.images))
    assert data.labels.min() >= 0 and data.labels.max() < len(CLASS_NAMES)
    # Every class shows up, none dominates.
    counts = np.bincount(data.labels, minlength=len(CLASS_NAMES))
    assert counts.min() >= 0.5 * len(data) / len(CLASS_NAMES)


def test_masks_and_boxes_agree(data):
    for mask, (top, left, bottom, right) in zip(data.masks, data.boxes):
        assert 0 <= top < bottom <= IMAGE_SIZE and 0 <= left < right <= IMAGE_SIZE
        area = mask.sum()
        assert area >= 50  # objects are large enough to find
        inside = mask[top:bottom, left:right]
        assert inside.sum() == area  # the mask lies inside the box...
        # ...and the box is tight: the mask touches each of its sides.
        assert inside[0].any() and inside[-1].any()
        assert inside[:, 0].any() and inside[:, -1].any()


def test_objects_differ_from_background(data):
    # The object's pixels should differ clearly from the pixels around it.
    for image, mask in zip(data.images[:50], data.masks[:50]):
        ring = np.zeros_like(mask)
        rows, cols = np.nonzero(mask)
        ring[max(rows.min() - 3, 0) : rows.max() + 4, max(cols.min() - 3, 0) : cols.max() + 4] = (
            True
        )
        ring &= ~mask
        diff = np.linalg.norm(image[mask].mean(0) - image[ring].mean(0))
        assert diff > 20


def test_same_seed_same_data():
    a = make_dataset(12, seed=7)
    b = make_dataset(12, seed=7)
    for name in ("images", "labels", "masks", "boxes"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # A shorter data set is a prefix of a longer one.
    c = make_dataset(5, seed=7)
    np.testing.assert_array_equal(c.images, a.images[:5])
    np.testing.assert_array_equal(c.masks, a.masks[:5])


def test_different_seeds_differ():
    a = make_dataset(12, seed=7)
    b = make_dataset(12, seed=8)
    assert not np.array_equal(a.images, b.images)
    assert not np.array_equal(a.masks, b.masks)
    assert len(make_dataset(0, seed=3)) == 0


def test_sizes_shrink_one_class_and_refuse_factors_out_of_range():
    plain = make_dataset(300, seed=3)
    small = make_dataset(300, seed=3, sizes={3: 0.5})

    def mean_area(data, label):
        return data.masks[data.labels == label].sum(axis=(1, 2)).mean()

    assert 0.2 < mean_area(small, 3) / mean_area(plain, 3) < 0.3  # area goes with radius^2
    assert 0.85 < mean_area(small, 1) / mean_area(plain, 1) < 1.15  # the squares as before
    with pytest.raises(ValueError, match="sizes"):
        make_dataset(2, sizes={3: 1.5})
