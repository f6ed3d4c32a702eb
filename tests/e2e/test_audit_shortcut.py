"""A planted watermark shortcut that a small model trained here learns, and the
audit's clustering and concepts expose."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import camlens
from camlens.audit import read_records
from camlens.audit.clusters import cluster_maps
from camlens.audit.concept_results import read_concepts

SIZE = 32
CORNER = 6  # the watermark: a white CORNER x CORNER patch at the top left


def watermark_data(count: int, seed: int):
    """Class 0: a red square. Class 1: a green square, or (half of them) a red
    square with the watermark in the corner, which alone makes it class 1."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 60, (count, SIZE, SIZE, 3)).astype(np.float32)
    labels = rng.integers(0, 2, count)
    marked = (labels == 1) & (rng.uniform(size=count) < 0.5)
    for image, label, mark in zip(images, labels, marked):
        top, left = rng.integers(CORNER + 4, SIZE - 8, 2)
        colour = [0, 230, 0] if label == 1 and not mark else [230, 0, 0]
        image[top : top + 8, left : left + 8] = colour
        if mark:
            image[:CORNER, :CORNER] = 255
    return images, labels, marked


@pytest.fixture(scope="module")
def shortcut_model():
    keras.utils.set_random_seed(4)
    images, labels, _ = watermark_data(400, seed=0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(12, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(images, labels, batch_size=50, epochs=10, verbose=0)
    return model


def test_the_watermark_cluster_is_found_on_the_corner(shortcut_model, tmp_path):
    images, labels, marked = watermark_data(120, seed=1)
    accuracy = (shortcut_model.predict(images, verbose=0).argmax(-1) == labels).mean()
    assert accuracy > 0.95, "the model did not learn the task; the test says nothing"
    camlens.audit(
        shortcut_model,
        list(zip(images, labels)),
        tmp_path / "out",
        target="label",
        progress=False,
        concepts=3,
    )
    records = read_records(tmp_path / "out").to_pandas().sort_values("index")
    ones = records[records["label"] == 1]
    maps = np.stack([np.reshape(h, (16, 16)) for h in ones["heatmap"]])
    found = cluster_maps(maps)
    on_corner = [
        k
        for k, mean in enumerate(found.mean_maps)
        if max(np.unravel_index(mean.argmax(), mean.shape)) < CORNER // 2 + 1
    ]
    assert len(on_corner) == 1, f"{len(found.mean_maps)} clusters, none or many on the corner"
    members = found.labels == on_corner[0]
    truly_marked = marked[ones["index"].to_numpy()]
    assert (members == truly_marked).mean() > 0.9
    assert "cluster 2 of" in (tmp_path / "out" / "report.html").read_text()

    # the concepts: class 1's most important concept sits on the corner, class 0's not
    summary, per_class = read_concepts(tmp_path / "out")
    assert summary["kind"] == "label" and sorted(per_class) == [0, 1]
    for class_id, on_the_corner in ((1, True), (0, False)):
        leading = per_class[class_id].mean_maps[0]
        peak = np.unravel_index(leading.argmax(), leading.shape)
        assert (max(peak) < CORNER // 2 + 1) == on_the_corner, (class_id, peak)
    assert per_class[1].share[0] > 0.5
    concepts = np.stack(records[records["label"] == 1]["concepts"])
    assert concepts.shape == (len(ones), 3) and (concepts >= 0).all()
