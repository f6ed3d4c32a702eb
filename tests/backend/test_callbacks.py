"""ExplainCallback: training unchanged, maps of each epoch's weights, PNG, GIF, TensorBoard."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

import camlens
from camlens.api.prediction import image_from_doc
from camlens.callbacks import ExplainCallback

SIZE, CLASSES = 10, 3


def data(count=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (count, SIZE, SIZE, 3)).astype(np.float32)
    y = rng.integers(0, CLASSES, count)
    return x, y


def small_cnn():
    """Dropout and batch norm: the layers a careless callback would disturb."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    x = layers.Conv2D(5, 3, padding="same", activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(CLASSES, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="small_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def seeded_fit(callbacks, epochs=3):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = data()
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=8,
        shuffle=True,
        verbose=0,
        validation_split=0.25,
        callbacks=callbacks,
    )
    return model, history.history


class WeightsAtEpochEnd(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch + 1] = [np.array(w) for w in self.model.get_weights()]


def test_training_is_unchanged(tmp_path):
    plain_model, plain_history = seeded_fit([])
    images = data(4, seed=9)[0]
    model, history = seeded_fit([ExplainCallback(images, targets=[0, 2], log_dir=tmp_path)])

    assert history == plain_history
    for plain, trained in zip(plain_model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(trained, plain)


def test_maps_are_those_of_the_weights_at_each_epoch(tmp_path):
    images = data(3, seed=5)[0]
    recorder = WeightsAtEpochEnd()
    callback = ExplainCallback(images, layer="last_conv", log_dir=tmp_path)
    model, _ = seeded_fit([recorder, callback])

    assert sorted(callback.history) == [1, 2, 3]
    for epoch, weights in recorder.weights.items():
        snapshot = small_cnn()
        snapshot.set_weights(weights)
        expected = camlens.Explainer(snapshot, layer="last_conv")(images)
        np.testing.assert_allclose(callback.history[epoch].heatmaps, expected.heatmaps, atol=1e-5)
        np.testing.assert_array_equal(callback.history[epoch].targets, expected.targets)
    assert not np.allclose(callback.history[1].heatmaps, callback.history[3].heatmaps)


def test_png_per_epoch_and_gif(tmp_path):
    images = data(2, seed=3)[0]
    callback = ExplainCallback(
        images, targets=[0, 1, 2], every=2, log_dir=tmp_path / "logs", tensorboard=False
    )
    seeded_fit([callback], epochs=3)

    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["epoch-002.png", "epoch-003.png", "maps.gif"]  # every 2nd, and the last
    grids = []
    for epoch in (2, 3):
        with Image.open(tmp_path / "logs" / f"epoch-{epoch:03d}.png") as grid:
            grids.append(np.asarray(grid.convert("RGB"), dtype=float))
    with Image.open(tmp_path / "logs" / "maps.gif") as gif:
        assert gif.n_frames == 2 and gif.size == grids[0].shape[1::-1]
        for frame, grid in enumerate(grids):  # the PNGs in 256 colours
            gif.seek(frame)
            assert np.abs(np.asarray(gif.convert("RGB"), dtype=float) - grid).mean() < 6


def on_white(picture):
    white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, picture).convert("RGB"))


def find(grid, patch):
    """The (top, left) of every place where `patch` appears in `grid`, pixel for pixel."""
    h, w = patch.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(grid, patch.shape)[..., 0, :, :, :]
    return [tuple(p) for p in np.argwhere((windows == patch).all(axis=(-3, -2, -1)))]


def test_grid_holds_each_overlay_at_the_image_size(tmp_path):
    """Row n, column k of epoch e's PNG: image n's map for target k at e, drawn at 10 x 10."""
    images = data(2, seed=3)[0]
    callback = ExplainCallback(images, targets=[0, 2], log_dir=tmp_path, tensorboard=False)
    seeded_fit([callback], epochs=2)

    for epoch in (1, 2):
        with Image.open(tmp_path / f"epoch-{epoch:03d}.png") as png:
            grid = np.asarray(png.convert("RGB"))
        places = {}
        for n in range(2):
            picture = image_from_doc(images[n][None])
            assert picture.size == (SIZE, SIZE)
            for k in range(2):
                heatmap = callback.history[epoch].heatmaps[n, k]
                expected = on_white(camlens.overlay(picture, heatmap))
                found = find(grid, expected)
                assert len(found) == 1, (epoch, n, k, found)
                places[n, k] = found[0]
        # rows follow the images, columns the targets
        assert places[0, 0][0] == places[0, 1][0] < places[1, 0][0] == places[1, 1][0]
        assert places[0, 0][1] == places[1, 0][1] < places[0, 1][1] == places[1, 1][1]


def read_image_summaries(log_dir):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.IMAGES: 0}
    )
    accumulator.Reload()
    return {tag: accumulator.Images(tag) for tag in accumulator.Tags()["images"]}


def test_tensorboard_summaries_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    images = data(2, seed=4)[0]
    callback = ExplainCallback(images, method="layercam", log_dir=tmp_path)
    seeded_fit([callback], epochs=2)

    summaries = read_image_summaries(tmp_path)
    assert list(summaries) == ["camlens/layercam"]
    events = summaries["camlens/layercam"]
    assert [event.step for event in events] == [1, 2]
    for event in events:
        written = tmp_path / f"epoch-{event.step:03d}.png"
        assert event.encoded_image_string == written.read_bytes()  # encoded once, for both
        with Image.open(written) as png:
            assert (event.width, event.height) == png.size


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="JAX and torch only")
def test_tensorboard_summaries_without_tensorflow(tmp_path):
    """TensorFlow made unimportable: the callback still writes summaries tensorboard reads."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["tensorflow"] = None  # any import of TensorFlow now fails
        import numpy as np, keras
        from camlens.callbacks import ExplainCallback
        from tensorboard.backend.event_processing import event_accumulator
        inputs = keras.Input(({SIZE}, {SIZE}, 3))
        x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        x = np.random.default_rng(0).uniform(0, 1, (8, {SIZE}, {SIZE}, 3)).astype("float32")
        model.fit(x, np.arange(8) % 2, epochs=2, verbose=0,
                  callbacks=[ExplainCallback(x[:2], log_dir=sys.argv[1])])
        acc = event_accumulator.EventAccumulator(sys.argv[1], size_guidance={{"images": 0}})
        acc.Reload()
        print([e.step for e in acc.Images("camlens/gradcam")])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[1, 2]"


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(every=0), ValueError, "every must be a positive integer"),
        (dict(every=1.5), ValueError, "every must be a positive integer"),
        (dict(every=True), ValueError, "every must be a positive integer"),
        (dict(images=[[0.0]]), TypeError, "images must be a numpy.ndarray"),
        (dict(method="nope"), ValueError, "method must be one of"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, error, words):
    images = kwargs.pop("images", data(2)[0])
    with pytest.raises(error, match=words):
        ExplainCallback(images, log_dir=tmp_path, **kwargs)


def test_images_that_do_not_fit_the_model(tmp_path):
    wrong = np.zeros((2, SIZE + 1, SIZE, 3), np.float32)
    with pytest.raises(ValueError, match="images"):
        seeded_fit([ExplainCallback(wrong, log_dir=tmp_path)], epochs=1)
