"""The audit's reader: sources of every kind, decoding, failures, prefetching."""

from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pytest
from PIL import Image

from camlens.audit.decode import Decoder, prefetch
from camlens.audit.sources import Item, open_source


@pytest.fixture(scope="module")
def model():
    inputs = keras.Input((8, 10, 3))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))


def images(count):
    return np.random.default_rng(0).uniform(0, 255, (count, 8, 10, 3)).astype(np.float32)


def collected(data):
    return [
        (i.index, i.label, None if i.pixels is None else i.pixels.shape)
        for i in open_source(data).items()
    ]


def test_arrays_pairs_and_batches_become_items_in_order():
    x = images(5)
    labels = np.array([1, 0, 1, 1, 0])
    assert collected(x) == [(n, None, (8, 10, 3)) for n in range(5)]
    assert collected(list(zip(x, labels))) == [(n, int(labels[n]), (8, 10, 3)) for n in range(5)]
    one_hot = np.eye(2)[labels]
    batches = [(x[:3], one_hot[:3]), (x[3:], one_hot[3:])]
    assert collected(batches) == collected(list(zip(x, labels)))


def test_tf_data_pydataset_and_dataloader():
    tf = pytest.importorskip("tensorflow")
    torch = pytest.importorskip("torch")
    x, labels = images(5), np.array([1, 0, 1, 1, 0])
    expected = [(n, int(labels[n]), (8, 10, 3)) for n in range(5)]
    assert collected(tf.data.Dataset.from_tensor_slices((x, labels)).batch(2)) == expected

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[2 * i : 2 * i + 2], labels[2 * i : 2 * i + 2]

    assert collected(Batches()) == expected
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(labels)), batch_size=2
    )
    assert collected(loader) == expected
    first = next(open_source(loader).items())
    np.testing.assert_array_equal(first.pixels, x[0])


def test_files_decode_like_camlens_explain_with_masks_and_boxes(model, tmp_path):
    from camlens.files.images import image_to_doc, load_image

    picture = np.random.default_rng(1).integers(0, 255, (16, 20, 3), np.uint8)
    Image.fromarray(picture).save(tmp_path / "a.png")
    mask = np.zeros((16, 20), np.uint8)
    mask[4:8, 10:20] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    decode = Decoder(model)
    decoded = decode(Item(0, str(tmp_path / "a.png"), mask=str(tmp_path / "m.png")))
    np.testing.assert_array_equal(
        decoded.pixels, image_to_doc(load_image(tmp_path / "a.png"), model)[0]
    )
    expected = np.zeros((8, 10), bool)
    expected[2:4, 5:10] = True  # the mask, at half size
    np.testing.assert_array_equal(decoded.mask, expected)
    boxed = decode(Item(0, str(tmp_path / "a.png"), box=(4, 10, 8, 20)))
    np.testing.assert_array_equal(boxed.mask, expected)


def test_unreadable_files_and_wrong_shapes_fail_with_a_reason(model, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    decode = Decoder(model)
    assert "not an image" in decode(Item(0, str(tmp_path / "bad.png"))).error
    assert "not found" in decode(Item(1, str(tmp_path / "gone.png"))).error
    assert "shape" in decode(Item(2, pixels=np.zeros((3, 3, 3)))).error


def test_a_table_needs_a_path_column(tmp_path):
    (tmp_path / "t.csv").write_text("file,label\na.png,1\n")
    with pytest.raises(ValueError, match="'path' column"):
        open_source(tmp_path / "t.csv")


def test_prefetch_decodes_ahead_in_threads_and_keeps_the_order():
    seen = set()

    def slow(item):
        seen.add(threading.current_thread().name)
        time.sleep(0.02 * (item.index % 3))
        return item.index

    assert list(prefetch((Item(n) for n in range(12)), slow, workers=3, depth=6)) == list(range(12))
    assert len(seen) > 1 and all(name.startswith("camlens-read") for name in seen)


def test_unknown_data_is_refused():
    with pytest.raises(TypeError, match="data must be"):
        open_source(42)


def test_streams_are_recognised_by_type_length_and_first_item():
    tf = pytest.importorskip("tensorflow")
    torch = pytest.importorskip("torch")
    x = images(6)

    def identity(data):
        items, found = open_source(data).open()
        assert [i.index for i in items] == list(range(6))  # the first item is not lost
        return found

    batched = tf.data.Dataset.from_tensor_slices(x).batch(2)
    assert " of length 3, first item " in identity(batched)
    assert identity(batched) == identity(tf.data.Dataset.from_tensor_slices(x).batch(2))
    assert identity(batched) != identity(tf.data.Dataset.from_tensor_slices(x).batch(3))
    assert identity(batched) != identity(tf.data.Dataset.from_tensor_slices(x[::-1]).batch(2))
    loader = torch.utils.data.DataLoader(torch.from_numpy(x), batch_size=4)
    assert identity(loader).startswith("DataLoader of length 2, first item")
    assert identity(x[i] for i in range(6)).startswith("generator, first item")
