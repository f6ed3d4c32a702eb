"""Region targets on a keras-hub DeepLabV3 segmenter built from a small config."""

import keras
import numpy as np
import pytest

import camlens
from camlens.targets import Region
from support import dense
from support.hub import gradcam, gradient, images

keras_hub = pytest.importorskip("keras_hub")

SIZE, CLASSES = dense.SIZE, dense.CLASSES


@pytest.fixture(scope="module")
def segmenter():
    return dense.deeplab()


def test_region_on_deeplab_matches_segmentation_gradcam(segmenter):
    x = images((SIZE, SIZE, 3), count=2, seed=5)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[4:20, 8:24] = True
    # signed maps: with random weights a ReLU'd map can be all 0 for a class
    maps = camlens.Explainer(segmenter, layer=segmenter.backbone.name, relu=False)(
        x, targets=[Region(1, mask)]
    )

    # training=False as model.predict: keras-hub's segmenter called without it
    # gives other outputs (by 2.4 to 2.9 here)
    features = keras.ops.convert_to_numpy(segmenter.backbone(x, training=False))
    head = segmenter.get_layer("segmentation_output")
    weights = keras.ops.convert_to_tensor(mask.astype("float32"))
    assert maps.heatmaps.shape == (2, 1, SIZE, SIZE)
    for n in range(2):

        def score(tensor):
            return keras.ops.sum(head(tensor)[0, :, :, 1] * weights)

        value, grads = gradient(score, features[n : n + 1])
        np.testing.assert_allclose(
            maps.heatmaps[n, 0], gradcam(features[n], grads[0], relu=False), atol=1e-4
        )
        assert maps.scores[n, 0] == pytest.approx(float(value), rel=1e-4)
        assert maps.heatmaps[n, 0].std() > 0.01


def test_the_automatic_layer_explains_a_predicted_region(segmenter):
    x = images((SIZE, SIZE, 3), count=1, seed=6)
    predicted = segmenter.predict(x, verbose=0)[0].argmax(-1)
    common = int(np.bincount(predicted.ravel()).argmax())
    explainer = camlens.Explainer(segmenter)
    maps = explainer(x, targets=Region(common))
    assert explainer.layer is not None and maps.heatmaps.shape[2] > 1
    assert maps.heatmaps.max() > 0
