"""The audit's concept arrays on disk: what a shard's file holds is read back in
image order, each value within half a step of the image's largest, and files of
earlier versions (`.npz`) read the same way."""

from __future__ import annotations

import numpy as np

from camlens.audit.concept_arrays import CONCEPT_KEY, attach, batches, pack


def arrays(count: int, seed: int):
    rng = np.random.default_rng(seed)
    activations = np.maximum(rng.normal(size=(count, 4, 5, 6)), 0).astype(np.float32)
    gradients = (rng.normal(size=(count, 4, 5, 6)) * 1e-3).astype(np.float32)
    gradients[1] = 0.0  # an image without gradient: its step is 1, its values 0
    return activations, gradients


def test_a_shards_file_holds_its_images_in_order_within_half_a_step(tmp_path):
    activations, gradients = arrays(5, seed=0)
    ids, classes = np.array([7, 3, 9, 4, 5]), np.array([2, 0, 2, 1, 0])
    records = [{"index": int(i), "target_kind": kind} for i in ids for kind in ("label", "top")]
    attach(records, ids, classes, activations, gradients, kind="top")
    assert sum(CONCEPT_KEY in record for record in records) == 5  # one record an image
    path = tmp_path / "part-00000.arrays"
    path.write_bytes(pack(records))
    assert not any(CONCEPT_KEY in record for record in records)  # taken off them
    (batch,) = batches([path])
    order = np.argsort(ids)
    np.testing.assert_array_equal(batch.ids, ids[order])
    np.testing.assert_array_equal(batch.classes, classes[order])
    found_activations, found_gradients = batch.images(np.arange(5))
    for found, given, top in (
        (found_activations, activations, 65535),
        (found_gradients, gradients, 32767),
    ):
        largest = np.abs(given[order]).reshape(5, -1).max(axis=1)
        error = np.abs(found - given[order]).reshape(5, -1).max(axis=1)
        assert np.all(error <= 0.5 * largest / top * (1 + 1e-5))
    assert np.all(found_gradients[ids[order] == 3] == 0)
    rows = batch.rows(np.array([0, 2]), np.array([[0, 19], [5, 6]]))
    reference = activations[order][[0, 0, 2, 2]].reshape(4, 20, 6)[[0, 1, 2, 3], [0, 19, 5, 6]]
    np.testing.assert_allclose(rows, reference, atol=np.abs(activations).max() / 65535)


def test_a_file_of_an_earlier_version_reads_the_same(tmp_path):
    activations, gradients = arrays(3, seed=1)
    steps = np.abs(activations).reshape(3, -1).max(axis=1) / 65535
    signed_steps = np.maximum(np.abs(gradients).reshape(3, -1).max(axis=1), 1e-30) / 32767
    path = tmp_path / "part-00000.npz"
    np.savez(
        path,
        ids=np.arange(3),
        classes=np.zeros(3, np.int64),
        activations=np.rint(activations / steps[:, None, None, None]).astype(np.uint16),
        activation_scales=steps.astype(np.float32),
        gradients=np.rint(gradients / signed_steps[:, None, None, None]).astype(np.int16),
        gradient_scales=signed_steps.astype(np.float32),
    )
    (batch,) = batches([path])
    found_activations, found_gradients = batch.images(np.arange(3))
    np.testing.assert_allclose(found_activations, activations, atol=steps.max())
    np.testing.assert_allclose(found_gradients, gradients, atol=signed_steps.max())
