"""Models built channels_first: inputs in the model's own layout, maps as for channels last.

References: the channels-last twin of each model (same weights), and Grad-CAM
in numpy from the backend's autodiff at the layer's own (N, C, h, w) output.
"""

import keras
import numpy as np
import pytest

import camlens
from camlens.targets import Region
from support.hub import gradient

runs_channels_first = pytest.mark.skipif(
    keras.backend.backend() == "tensorflow" and not keras.distribution.list_devices("gpu"),
    reason="TensorFlow runs channels_first convolutions on GPUs only: on a CPU the "
    "model itself cannot run (its Conv2D kernel supports NHWC only)",
)


def _built(data_format: str, rank: int) -> keras.Model:
    """Conv, pool, batch norm, conv ('last'), relu, global pooling, softmax, in `data_format`."""
    first = data_format == "channels_first"
    spatial = {1: (24,), 2: (16, 16), 3: (6, 8, 8)}[rank]
    conv, pool, average = (
        getattr(keras.layers, f"{name}{rank}D")
        for name in ("Conv", "MaxPooling", "GlobalAveragePooling")
    )
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format(data_format)
    try:
        model = keras.Sequential(
            [
                keras.Input((3, *spatial) if first else (*spatial, 3)),
                conv(4, 3, padding="same", activation="relu"),
                pool(2),
                keras.layers.BatchNormalization(axis=1 if first else -1),
                conv(5, 3, padding="same", name="last"),
                keras.layers.Activation("relu", name="relu"),
                average(),
                keras.layers.Dense(3, activation="softmax"),
            ],
            name=f"{data_format}_{rank}d",
        )
    finally:
        keras.config.set_image_data_format(previous)
    rng = np.random.default_rng(rank)
    for variable in model.weights:  # kernels have the same shape in both formats
        value = rng.normal(0, 0.4, variable.shape).astype(np.float32)
        variable.assign(np.abs(value) + 0.5 if "variance" in variable.path else value)
    return model


@pytest.fixture(scope="module", params=[1, 2, 3])
def twins(request):
    rank = request.param
    last, first = _built("channels_last", rank), _built("channels_first", rank)
    shape = last.inputs[0].shape[1:]
    inputs = np.random.default_rng(5).uniform(0, 1, (3, *shape)).astype(np.float32)
    return last, first, inputs, np.ascontiguousarray(np.moveaxis(inputs, -1, 1))


METHODS = [
    "gradcam",
    "gradcam++",
    "layercam",
    "scorecam",
    "ablationcam",
    "eigencam",
    "shapleycam",
    "guided-gradcam",
    "fullgrad",
]


@runs_channels_first
@pytest.mark.parametrize("method", METHODS)
def test_maps_equal_those_of_the_channels_last_twin(twins, method):
    last, first, inputs, moved = twins
    expected = camlens.Explainer(last, method=method)(inputs, targets=[0, 2])
    maps = camlens.Explainer(first, method=method)(moved, targets=[0, 2])
    np.testing.assert_allclose(maps.heatmaps, expected.heatmaps, atol=1e-5, err_msg=method)
    np.testing.assert_allclose(maps.scores, expected.scores, atol=1e-6)


@runs_channels_first
def test_gradcam_matches_autodiff_at_the_channels_first_layer(twins):
    _, first, _, moved = twins
    maps = camlens.Explainer(first, layer="relu")(moved, targets=[1])
    trunk = keras.Model(first.inputs[0], first.get_layer("relu").output)
    features = keras.ops.convert_to_numpy(trunk(moved, training=False))  # (N, C, *grid)
    head = first.layers[-2:]

    def score(tensor):
        for layer in head:
            tensor = layer(tensor)
        return keras.ops.sum(tensor[0, 1])

    for n in range(len(moved)):
        grads = gradient(score, features[n : n + 1])[1][0].astype(np.float64)
        spatial = tuple(range(1, grads.ndim))
        weights = grads.mean(axis=spatial)
        cam = np.maximum(np.tensordot(weights, features[n].astype(np.float64), axes=1), 0)
        np.testing.assert_allclose(maps.heatmaps[n, 0], cam / (cam.max() + 1e-7), atol=2e-5)


@runs_channels_first
def test_the_automatic_layer_and_the_image_of_a_channels_first_model(twins):
    last, first, inputs, moved = twins
    explainer = camlens.Explainer(first)
    maps = explainer(moved)
    assert explainer.layer.name == "relu"
    assert maps.heatmaps.shape[2:] == tuple(last.get_layer("relu").output.shape[1:-1])
    expl = camlens.explain_prediction(first, moved[:1])
    reference = camlens.explain_prediction(last, inputs[:1])
    if inputs.ndim == 4:
        assert np.array_equal(np.asarray(expl.image), np.asarray(reference.image))
    else:
        np.testing.assert_array_equal(expl.image, inputs[0])  # channels last, as drawn
    np.testing.assert_allclose(expl.targets[0].heatmap, reference.targets[0].heatmap, atol=1e-5)


@runs_channels_first
def test_smoothing_and_batches_take_channels_first_inputs(twins):
    last, first, inputs, moved = twins
    smoothed = camlens.Explainer(first, smooth="aug")(moved)
    np.testing.assert_allclose(
        smoothed.heatmaps, camlens.Explainer(last, smooth="aug")(inputs).heatmaps, atol=1e-5
    )
    batched = camlens.explain_batch(first, moved, batch_size=2, progress=False)
    np.testing.assert_allclose(
        batched.heatmaps, camlens.Explainer(last)(inputs).heatmaps, atol=1e-5
    )


def _per_layer(set_on_layers: bool) -> keras.Model:
    """A channels_first model from `data_format=` on its layers, or from the config."""
    previous = keras.config.image_data_format()
    if not set_on_layers:
        keras.config.set_image_data_format("channels_first")
    try:
        options = {"data_format": "channels_first"} if set_on_layers else {}
        inputs = keras.Input((3, 12, 12))
        x = keras.layers.Conv2D(4, 3, padding="same", name="conv", **options)(inputs)
        x = keras.layers.ReLU(name="relu")(x)  # channels on axis 1, with no data_format
        x = keras.layers.GlobalAveragePooling2D(**options)(x)
        model = keras.Model(inputs, keras.layers.Dense(2)(x))
    finally:
        keras.config.set_image_data_format(previous)
    rng = np.random.default_rng(9)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@runs_channels_first
def test_data_format_set_per_layer_or_by_the_config_alike():
    doc = np.random.default_rng(4).uniform(0, 1, (2, 3, 12, 12)).astype(np.float32)
    per_layer = camlens.Explainer(_per_layer(True), layer="relu")(doc, targets=[1])
    by_config = camlens.Explainer(_per_layer(False), layer="relu")(doc, targets=[1])
    assert per_layer.heatmaps.shape == (2, 1, 12, 12) and per_layer.heatmaps.max() > 0.5
    np.testing.assert_allclose(per_layer.heatmaps, by_config.heatmaps, atol=1e-6)


def test_a_model_mixing_data_formats_is_refused():
    inputs = keras.Input((3, 16, 16))
    x = keras.layers.Conv2D(4, 3, data_format="channels_first")(inputs)
    x = keras.layers.Conv2D(4, 3, data_format="channels_last", name="odd")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    with pytest.raises(ValueError, match="mixes data formats.*odd"):
        camlens.Explainer(model)


def test_region_targets_on_a_channels_first_output_are_refused():
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        inputs = keras.Input((3, 8, 8))
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        model = keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax")(x))
    finally:
        keras.config.set_image_data_format(previous)
    with pytest.raises(ValueError, match="channels_first.*Region"):
        camlens.Explainer(model)(np.zeros((1, 3, 8, 8), np.float32), targets=Region(1))


def _mobilenet(data_format: str) -> keras.Model:
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format(data_format)
    try:
        shape = (3, 32, 32) if data_format == "channels_first" else (32, 32, 3)
        return keras.applications.MobileNetV2(
            weights=None, input_shape=shape, alpha=0.35, classes=4
        )
    finally:
        keras.config.set_image_data_format(previous)


@runs_channels_first
def test_a_keras_applications_model_built_channels_first_explains_like_its_twin():
    last, first = _mobilenet("channels_last"), _mobilenet("channels_first")
    rng = np.random.default_rng(7)
    for variable_last, variable_first in zip(last.weights, first.weights):
        value = rng.normal(0, 0.3, variable_last.shape).astype(np.float32)
        value = np.abs(value) + 0.5 if "variance" in variable_last.path else value
        variable_last.assign(value)
        variable_first.assign(value)
    inputs = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    explainer_last, explainer_first = camlens.Explainer(last), camlens.Explainer(first)
    expected = explainer_last(inputs, targets=[0, 3])
    maps = explainer_first(np.ascontiguousarray(np.moveaxis(inputs, -1, 1)), targets=[0, 3])
    assert explainer_first.layer.name == explainer_last.layer.name
    assert maps.heatmaps.max() > 0.5
    np.testing.assert_allclose(maps.heatmaps, expected.heatmaps, atol=1e-5)
    np.testing.assert_allclose(maps.scores, expected.scores, atol=1e-6)
