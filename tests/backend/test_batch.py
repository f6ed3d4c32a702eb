"""explain_batch: many images through one computation, arrays or streams."""

import numpy as np
import pytest

import camlens
from support.models import images


def test_array_and_stream_give_the_maps_of_one_big_call(resnet):
    batch = images(11, seed=8)
    whole = camlens.Explainer(resnet, layer="conv1")(batch, targets=[1, 2])

    from_array = camlens.explain_batch(resnet, batch, targets=[1, 2], layer="conv1", batch_size=4)
    from_stream = camlens.explain_batch(
        resnet, (image for image in batch), targets=[1, 2], layer="conv1", batch_size=4
    )
    from_chunks = camlens.explain_batch(
        resnet, [batch[:3], batch[3:10], batch[10]], targets=[1, 2], layer="conv1", batch_size=4
    )

    for maps in (from_array, from_stream, from_chunks):
        assert maps.heatmaps.shape == (11, 2, 12, 12)
        np.testing.assert_allclose(maps.heatmaps, whole.heatmaps, atol=1e-6)
        np.testing.assert_array_equal(maps.targets, whole.targets)
        np.testing.assert_allclose(maps.scores, whole.scores, rtol=1e-5)


def test_repeated_calls_agree(resnet):
    """The first call (eager on TensorFlow) and later ones (compiled) give the same maps."""
    explainer = camlens.Explainer(resnet)
    first, second = explainer(images(3)), explainer(images(3))
    np.testing.assert_allclose(first.heatmaps, second.heatmaps, atol=1e-6)


def test_progress_bar(resnet, capsys):
    camlens.explain_batch(resnet, images(6), batch_size=2, progress=True)
    assert "6/6" in capsys.readouterr().err
    camlens.explain_batch(resnet, images(6), batch_size=2, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=2.5), ValueError, "batch_size"),
        (dict(images=42), TypeError, "images must be"),
        (dict(images=np.zeros((12, 12, 3), np.float32)), ValueError, "images must be"),
        (dict(images=[]), ValueError, "no image"),
    ],
)
def test_bad_arguments(resnet, kwargs, error, words):
    arguments = dict(images=images(2), batch_size=2)
    arguments.update(kwargs)
    with pytest.raises(error, match=words):
        camlens.explain_batch(resnet, arguments.pop("images"), **arguments)


def test_max_channels_and_smooth_reach_the_explainer(resnet):
    batch = images(3, seed=6)
    maps = camlens.explain_batch(resnet, batch, batch_size=2, smooth="aug", progress=False)
    expected = camlens.Explainer(resnet, smooth="aug")(batch)
    np.testing.assert_allclose(maps.heatmaps, expected.heatmaps, atol=1e-6)
    fast = camlens.explain_batch(resnet, batch, method="scorecam", max_channels=2, progress=False)
    np.testing.assert_allclose(
        fast.heatmaps,
        camlens.Explainer(resnet, method="scorecam", max_channels=2)(batch).heatmaps,
        atol=1e-6,
    )


def test_preprocess_is_applied_to_every_batch(resnet):
    """Raw images twice the model's size, halved by `preprocess`, give the maps of the
    halved images."""
    small = images(5, seed=21)
    raw = np.repeat(np.repeat(small, 2, axis=1), 2, axis=2) * 255.0

    def halve(batch):
        return np.asarray(batch)[:, ::2, ::2] / 255.0

    maps = camlens.explain_batch(resnet, raw, targets=[0], preprocess=halve, batch_size=2)
    plain = camlens.Explainer(resnet)(small, targets=[0])
    assert maps.heatmaps.shape == plain.heatmaps.shape
    np.testing.assert_allclose(maps.heatmaps, plain.heatmaps, atol=1e-6)
