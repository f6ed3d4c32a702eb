"""1-D signals (Conv1D) and 3-D volumes (Conv3D): maps of the input's rank.

The references are written here: the activations and their gradients by the
backend's autodiff through the model's own head layers, each method in numpy,
and linear resampling with `np.interp` (half-pixel centres, edges clamped).
"""

import keras
import numpy as np
import pytest

import camlens
from support.hub import gradient

SIGNAL = (48, 2)
VOLUME = (6, 10, 10, 1)


def _seeded(model: keras.Model, seed: int = 0) -> keras.Model:
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _model(shape: tuple, classes: int, seed: int) -> keras.Model:
    """Conv, pool, conv ('last'), global average pooling, linear dense, of the input's rank."""
    rank = len(shape) - 1
    conv, pool, average = (
        getattr(keras.layers, f"{name}{rank}D")
        for name in ("Conv", "MaxPooling", "GlobalAveragePooling")
    )
    return _seeded(
        keras.Sequential(
            [
                keras.Input(shape),
                conv(6 - rank, 5 - rank, padding="same", activation="relu", name="first"),
                pool(2),
                conv(5 - rank, 3, padding="same", activation="relu", name="last"),
                average(),
                keras.layers.Dense(classes, name="scores"),
            ],
            name=f"conv{rank}d",
        ),
        seed,
    )


def conv1d_model() -> keras.Model:
    return _model(SIGNAL, classes=4, seed=0)


def conv3d_model() -> keras.Model:
    return _model(VOLUME, classes=3, seed=1)


MODELS = {"1-D": (conv1d_model, SIGNAL), "3-D": (conv3d_model, VOLUME)}


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request):
    build, shape = MODELS[request.param]
    model = build()
    inputs = np.random.default_rng(2).uniform(0, 1, (3, *shape)).astype(np.float32)
    return model, inputs


def _layer_terms(model, inputs, class_id):
    """(activations (N, *grid, C), gradients (N, *grid, C)) at layer 'last'."""
    trunk = keras.Model(model.inputs[0], model.get_layer("last").output)
    features = keras.ops.convert_to_numpy(trunk(inputs, training=False))
    head = model.layers[model.layers.index(model.get_layer("last")) + 1 :]

    def score(tensor):
        for layer in head:
            tensor = layer(tensor)
        return keras.ops.sum(tensor[0, class_id])

    grads = np.stack([gradient(score, features[n : n + 1])[1][0] for n in range(len(inputs))])
    return features.astype(np.float64), grads.astype(np.float64)


def _normalized(maps):
    maps = np.maximum(maps, 0)
    return maps / (
        maps.reshape(len(maps), -1).max(axis=1).reshape((-1,) + (1,) * (maps.ndim - 1)) + 1e-7
    )


def _gradcam(a, g):
    return np.sum(a * g.mean(axis=tuple(range(1, g.ndim - 1)), keepdims=True), axis=-1)


def _gradcampp(a, g):
    spatial = tuple(range(1, g.ndim - 1))
    sums = a.sum(axis=spatial, keepdims=True)
    denominator = 2 * g**2 + sums * g**3
    alpha = np.divide(g**2, denominator, out=np.zeros_like(g), where=denominator != 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=spatial, keepdims=True)
    return np.sum(a * weights, axis=-1)


def _xgradcam(a, g):
    spatial = tuple(range(1, g.ndim - 1))
    sums = a.sum(axis=spatial, keepdims=True)
    share = np.divide(a, sums, out=np.zeros_like(a), where=sums != 0)
    return np.sum(a * (share * g).sum(axis=spatial, keepdims=True), axis=-1)


REFERENCES = {
    "gradcam": _gradcam,
    "gradcam++": _gradcampp,
    "layercam": lambda a, g: np.sum(np.maximum(g, 0) * a, axis=-1),
    "xgradcam": _xgradcam,
    "hirescam": lambda a, g: np.sum(g * a, axis=-1),
}


@pytest.mark.parametrize("method", sorted(REFERENCES))
def test_gradient_methods_match_a_numpy_reference(case, method):
    model, inputs = case
    # The head is linear after pooling: the logit is the output, for Grad-CAM++ too.
    maps = camlens.Explainer(model, layer="last", method=method)(inputs, targets=[0, 2])
    for k, class_id in enumerate([0, 2]):
        activations, grads = _layer_terms(model, inputs, class_id)
        expected = _normalized(REFERENCES[method](activations, grads))
        assert maps.heatmaps.shape == (len(inputs), 2) + activations.shape[1:-1]
        np.testing.assert_allclose(maps.heatmaps[:, k], expected, atol=2e-5, err_msg=method)


def _linear(values: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Resample one axis linearly, half-pixel centres, edges clamped."""
    source = np.clip(
        (np.arange(size) + 0.5) * values.shape[axis] / size - 0.5, 0, values.shape[axis] - 1
    )
    return np.apply_along_axis(
        lambda line: np.interp(source, np.arange(len(line)), line), axis, values
    )


def test_score_cam_masks_the_input_with_linearly_upsampled_channels(case):
    model, inputs = case
    maps = camlens.Explainer(model, layer="last", method="scorecam")(inputs, targets=[1])
    activations, _ = _layer_terms(model, inputs, 1)
    spatial = inputs.shape[1:-1]
    for n in range(len(inputs)):
        masks = []
        for channel in range(activations.shape[-1]):
            mask = activations[n, ..., channel]
            for axis, size in enumerate(spatial):
                mask = _linear(mask, size, axis)
            span = mask.max() - mask.min()
            masks.append((mask - mask.min()) / span if span > 0 else np.zeros_like(mask))
        masked = np.stack([inputs[n] * mask[..., None] for mask in masks]).astype(np.float32)
        scores = keras.ops.convert_to_numpy(model(masked, training=False))[:, 1].astype(np.float64)
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        expected = _normalized(np.sum(activations[n : n + 1] * weights, axis=-1))
        np.testing.assert_allclose(maps.heatmaps[n, 0], expected[0], atol=1e-5)


def test_eigen_cam_projects_on_the_first_singular_vector(case):
    model, inputs = case
    maps = camlens.Explainer(model, layer="last", method="eigencam")(inputs)
    activations, _ = _layer_terms(model, inputs, 0)
    for n in range(len(inputs)):
        matrix = activations[n].reshape(-1, activations.shape[-1])
        projection = matrix @ np.linalg.svd(matrix)[2][0]
        projection = projection if projection.sum() >= 0 else -projection
        expected = _normalized(projection.reshape((1,) + activations.shape[1:-1]))
        np.testing.assert_allclose(maps.heatmaps[n, 0], expected[0], atol=1e-6)


def test_the_automatic_layer_is_the_last_grid_of_the_input_rank(case):
    model, inputs = case
    explainer = camlens.Explainer(model)
    maps = explainer(inputs)
    assert explainer.layer.name == "last"
    grid = model.get_layer("last").output.shape[1:-1]
    assert maps.heatmaps.shape == (len(inputs), 1, *grid)
    top = keras.ops.convert_to_numpy(model(inputs, training=False)).argmax(axis=1)
    np.testing.assert_array_equal(maps.targets[:, 0], top)


def test_explain_prediction_and_explain_batch_keep_the_rank(case):
    model, inputs = case
    grid = tuple(model.get_layer("last").output.shape[1:-1])
    expl = camlens.explain_prediction(model, inputs[:1], targets=[1])
    assert expl.targets[0].heatmap.shape == grid
    assert isinstance(expl.image, np.ndarray) and expl.image.shape == inputs.shape[1:]
    np.testing.assert_array_equal(expl.image, inputs[0])
    one_by_one = np.concatenate(
        [camlens.Explainer(model)(inputs[n : n + 1]).heatmaps for n in range(3)]
    )
    batched = camlens.explain_batch(model, inputs, batch_size=2, progress=False)
    assert batched.heatmaps.shape == (3, 1) + grid
    np.testing.assert_allclose(batched.heatmaps, one_by_one, atol=1e-6)
    streamed = camlens.explain_batch(model, iter(inputs), batch_size=2, progress=False)
    np.testing.assert_allclose(streamed.heatmaps, one_by_one, atol=1e-6)


def test_per_image_targets_work_on_signals_and_volumes(case):
    model, inputs = case
    ids = np.array([2, 0, 1])
    maps = camlens.Explainer(model, layer="last")(inputs, targets=ids)
    for n, class_id in enumerate(ids):
        alone = camlens.Explainer(model, layer="last")(inputs[n : n + 1], targets=[int(class_id)])
        np.testing.assert_allclose(maps.heatmaps[n, 0], alone.heatmaps[0, 0], atol=1e-6)


def test_layers_of_several_grids_are_combined_at_the_finest(case):
    model, inputs = case
    maps = camlens.Explainer(model, layers=["first", "last"])(inputs, targets=[0])
    assert maps.heatmaps.shape == (len(inputs), 1) + tuple(
        model.get_layer("first").output.shape[1:-1]
    )


def test_smoothing_flips_signals_and_volumes_along_their_last_axis(case):
    model, inputs = case
    maps = camlens.Explainer(model, layer="last", smooth="aug")(inputs, targets=[0])
    total = 0
    for flip in (False, True):
        for factor in (0.9, 1.0, 1.1):
            variant = inputs * np.float32(factor)
            variant = np.ascontiguousarray(np.flip(variant, axis=-2)) if flip else variant
            raw = _normalized(_gradcam(*_layer_terms(model, variant, 0)))
            total = total + (np.flip(raw, axis=-1) if flip else raw)
    np.testing.assert_allclose(maps.heatmaps[:, 0], _normalized(total / 6), atol=2e-5)


def test_inputs_of_another_rank_are_refused():
    signal_model, volume_model = conv1d_model(), conv3d_model()
    with pytest.raises(ValueError, match=r"doc must be a 3-D \(batch, steps, channels\)"):
        camlens.explain_prediction(signal_model, np.zeros((1, 48, 2, 1), np.float32))
    with pytest.raises(ValueError, match=r"images must be a 5-D \(batch, depth, height, width"):
        camlens.Explainer(volume_model)(np.zeros((2, 10, 10, 1), np.float32))
    with pytest.raises(ValueError, match=r"images must be an \(N, steps, channels\) array"):
        camlens.explain_batch(signal_model, np.zeros((4, 48, 2, 1), np.float32))
    with pytest.raises(ValueError, match="3-D grid like the input's"):
        camlens.Explainer(signal_model, layer="scores")
    one = np.zeros(SIGNAL, np.float32)  # without its batch axis: given one
    assert camlens.explain_prediction(signal_model, one).targets[0].heatmap.shape == (24,)


class _SubclassedSignalNet(keras.Model):
    """A Conv1D classifier without a graph: its input rank comes from its build."""

    def __init__(self):
        super().__init__(name="subclassed_signal_net")
        self.conv = keras.layers.Conv1D(4, 3, activation="relu", name="conv")
        self.pool = keras.layers.GlobalAveragePooling1D()
        self.dense = keras.layers.Dense(3)

    def call(self, inputs):
        return self.dense(self.pool(self.conv(inputs)))


def test_a_subclassed_signal_model_takes_docs_with_or_without_the_batch_axis():
    model = _SubclassedSignalNet()
    signals = np.random.default_rng(6).normal(size=(2, 20, 2)).astype(np.float32)
    model(signals)
    batched = camlens.Explainer(model)(signals).heatmaps
    assert batched.shape == (2, 1, 18)
    for doc in (signals[:1], signals[0]):
        expl = camlens.explain_prediction(model, doc)
        np.testing.assert_allclose(expl.targets[0].heatmap, batched[0, 0], atol=1e-6)
    with pytest.raises(ValueError, match=r"3-D \(batch, steps, channels\)"):
        camlens.Explainer(model)(signals[:, None])
