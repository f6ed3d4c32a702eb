"""Models with an image beside other inputs: maps for the image, the others kept per row.

References: Grad-CAM in numpy from the backend's autodiff through the model's
own head layers with the row's metadata fixed, and Score-CAM's masked passes
run in the test with each image's own metadata.
"""

import keras
import numpy as np
import pytest

import camlens
from support.hub import gradient

SIZE = 12


def image_and_metadata_model(as_dict: bool = False) -> keras.Model:
    image = keras.Input((SIZE, SIZE, 3), name="image")
    metadata = keras.Input((4,), name="metadata")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="first")(image)
    x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="last")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    tabular = keras.layers.Dense(5, activation="relu", name="tabular")(metadata)
    # the metadata gates the image features: the maps depend on it
    gated = keras.layers.Multiply(name="gate")([pooled, tabular])
    scores = keras.layers.Dense(3, name="scores")(gated)
    inputs = {"image": image, "metadata": metadata} if as_dict else [metadata, image]
    model = keras.Model(inputs, scores, name="image_and_metadata")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def model():
    return image_and_metadata_model()


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    metadata = rng.uniform(0, 2, (3, 4)).astype(np.float32)
    return images, metadata


def _reference_gradcam(model, image, metadata, class_id):
    trunk = keras.Model(model.inputs[1], model.get_layer("last").output)
    features = keras.ops.convert_to_numpy(trunk(image[None], training=False))
    tabular = model.get_layer("tabular")(metadata[None])

    def score(tensor):
        pooled = model.get_layer("pool")(tensor)
        return keras.ops.sum(model.get_layer("scores")(pooled * tabular)[0, class_id])

    grads = gradient(score, features)[1][0].astype(np.float64)
    cam = np.maximum(
        np.tensordot(features[0].astype(np.float64), grads.mean(axis=(0, 1)), axes=1), 0
    )
    return cam / (cam.max() + 1e-7), features[0].astype(np.float64)


def test_gradcam_of_the_image_input_matches_autodiff_with_each_rows_metadata(model, batch):
    images, metadata = batch
    maps = camlens.Explainer(model, layer="last")([metadata, images], targets=[0, 2])
    assert maps.heatmaps.shape == (3, 2, SIZE, SIZE)
    for n in range(3):
        for k, class_id in enumerate([0, 2]):
            expected, _ = _reference_gradcam(model, images[n], metadata[n], class_id)
            np.testing.assert_allclose(maps.heatmaps[n, k], expected, atol=2e-5)
    swapped = camlens.Explainer(model, layer="last")([metadata[::-1].copy(), images], targets=[0])
    assert np.abs(swapped.heatmaps[0, 0] - maps.heatmaps[0, 0]).max() > 0.05  # the metadata counts


def test_score_cam_masks_the_image_and_keeps_each_rows_metadata(model, batch):
    images, metadata = batch
    maps = camlens.Explainer(model, layer="last", method="scorecam")(
        [metadata, images], targets=[1]
    )
    for n in range(3):
        _, features = _reference_gradcam(model, images[n], metadata[n], 1)
        low, high = features.min(axis=(0, 1)), features.max(axis=(0, 1))
        masks = np.where(high > low, (features - low) / np.where(high > low, high - low, 1), 0)
        masked = images[n][None] * np.moveaxis(masks, -1, 0)[..., None].astype(np.float32)
        rows = np.repeat(metadata[n : n + 1], len(masked), axis=0)
        scores = keras.ops.convert_to_numpy(model([rows, masked], training=False))[:, 1]
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        cam = np.maximum(features @ weights, 0)
        np.testing.assert_allclose(maps.heatmaps[n, 0], cam / (cam.max() + 1e-7), atol=1e-5)


def test_lists_dicts_and_image_input_by_index_or_name_agree(batch):
    images, metadata = batch
    as_list = image_and_metadata_model()
    as_dict = image_and_metadata_model(as_dict=True)
    expected = camlens.Explainer(as_list)([metadata, images]).heatmaps
    for explainer, doc in [
        (camlens.Explainer(as_list, image_input=1), [metadata, images]),
        (camlens.Explainer(as_list, image_input="image"), {"image": images, "metadata": metadata}),
        (camlens.Explainer(as_dict), {"metadata": metadata, "image": images}),
    ]:
        np.testing.assert_allclose(explainer(doc).heatmaps, expected, atol=1e-6)


def test_explain_prediction_batch_and_methods_take_several_inputs(model, batch):
    images, metadata = batch
    one_by_one = np.concatenate(
        [
            camlens.Explainer(model)([metadata[n : n + 1], images[n : n + 1]]).heatmaps
            for n in range(3)
        ]
    )
    batched = camlens.explain_batch(model, [metadata, images], batch_size=2, progress=False)
    np.testing.assert_allclose(batched.heatmaps, one_by_one, atol=1e-6)
    expl = camlens.explain_prediction(model, [metadata[:1], images[:1]])
    np.testing.assert_allclose(expl.targets[0].heatmap, one_by_one[0, 0], atol=1e-6)
    assert expl.image.size == (SIZE, SIZE)
    compared = camlens.explain_methods(model, [metadata, images], methods=["gradcam", "layercam"])
    np.testing.assert_allclose(compared["gradcam"].heatmaps, one_by_one, atol=1e-6)
    smoothed = camlens.Explainer(model, smooth="aug")([metadata, images])
    assert smoothed.heatmaps.shape == (3, 1, SIZE, SIZE)


def test_bad_image_inputs_are_refused(model, batch):
    images, metadata = batch
    with pytest.raises(ValueError, match="no input named 'photo'.*'metadata', 'image'"):
        camlens.Explainer(model, image_input="photo")
    with pytest.raises(ValueError, match="image_input=2 is out of range"):
        camlens.Explainer(model, image_input=2)
    with pytest.raises(ValueError, match="'metadata'.*image rank"):
        camlens.Explainer(model, image_input="metadata")
    with pytest.raises(TypeError, match="image_input must be None, an index"):
        camlens.Explainer(model, image_input=1.0)
    with pytest.raises(TypeError, match="list of arrays in that order or a dict"):
        camlens.Explainer(model)(images)
    with pytest.raises(ValueError, match="one array per input of the model, in order"):
        camlens.Explainer(model)([images])
    with pytest.raises(ValueError, match=r"images\['metadata'\] must have shape \(batch, 4\)"):
        camlens.Explainer(model)([metadata[:2], images])
    with pytest.raises(ValueError, match=r"images\['image'\] does not fit"):
        camlens.Explainer(model)([metadata, images[:, :8]])
    with pytest.raises(ValueError, match="Guided Grad-CAM.*single input"):
        camlens.Explainer(model, method="guided-gradcam")
    with pytest.raises(ValueError, match="FullGrad.*single input"):
        camlens.Explainer(model, method="fullgrad")
    single = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten()]
    )
    with pytest.raises(ValueError, match="image_input picks one of a model's several inputs"):
        camlens.Explainer(single, image_input=3)


def test_two_inputs_of_image_rank_need_image_input():
    left, right = keras.Input((8, 8, 3), name="left"), keras.Input((8, 8, 1), name="right")
    x = keras.layers.Concatenate()(
        [keras.layers.Conv2D(2, 3, name="a")(left), keras.layers.Conv2D(2, 3, name="b")(right)]
    )
    model = keras.Model(
        [left, right], keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    )
    with pytest.raises(ValueError, match="2 of image rank.*image_input="):
        camlens.Explainer(model)
    maps = camlens.Explainer(model, image_input="right", layer="b")(
        [np.ones((1, 8, 8, 3), np.float32), np.ones((1, 8, 8, 1), np.float32)]
    )
    assert maps.heatmaps.shape == (1, 1, 6, 6)


def test_the_command_line_keeps_requiring_one_image_input(model, tmp_path, capsys):
    from PIL import Image

    from camlens.cli import main

    path, image = tmp_path / "model.keras", tmp_path / "image.png"
    model.save(path)
    Image.new("RGB", (SIZE, SIZE)).save(image)
    assert main(["explain", str(path), str(image), "--out", str(tmp_path / "out.png")]) != 0
    error = capsys.readouterr().err
    assert "single image input" in error and "image_input=" in error and "2 inputs" in error
    assert not (tmp_path / "out.png").exists()
