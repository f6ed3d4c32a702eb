"""Dense outputs: the segmenters' automatic layer (the decoder's features, never
the output's own head) and `Region` on regression maps (depth, a U-Net's heat map).

References: the model cut at the explained layer with its own layers (a
two-input functional model where the graph allows), the region's score written
with keras.ops in the test, differentiated by the backend's autodiff, Grad-CAM
in numpy.
"""

import keras
import numpy as np
import pytest

import camlens
from camlens.targets import Output, Region
from support import dense
from support.hub import gradcam, gradient, images

SIZE = dense.SIZE


def _producer(tensor):
    """The layer that computed a symbolic tensor."""
    return tensor._keras_history[0]


def _computes(layer, tensor) -> bool:
    """Whether `layer` computed `tensor` (or is the last layer of the Sequential that did)."""
    producer = _producer(tensor)
    return layer is producer or (
        isinstance(producer, keras.Sequential) and layer is producer.layers[-1]
    )


def _region(output, mask, channel=0, reduce="sum"):
    weights = keras.ops.convert_to_tensor(mask.astype("float32"))
    total = keras.ops.sum(output[0, :, :, channel] * weights)
    return total if reduce == "sum" else total / float(mask.sum())


def _check(maps, x, features, tail, mask, channel=0, reduce="sum", k=0):
    """Each image's map and score against autodiff through `tail(image, activations)`."""
    for n in range(len(x)):
        image = keras.ops.convert_to_tensor(x[n : n + 1])

        def score(a, image=image):
            return _region(tail(image, a), mask, channel, reduce)

        value, grads = gradient(score, features[n : n + 1])
        np.testing.assert_allclose(
            maps.heatmaps[n, k], gradcam(features[n], grads[0], relu=False), atol=1e-4
        )
        assert maps.scores[n, k] == pytest.approx(float(value), rel=1e-4, abs=1e-6)
        assert np.abs(maps.heatmaps[n, k]).std() > 1e-3


def _mask(size=SIZE):
    mask = np.zeros((size, size), bool)
    mask[size // 8 : size // 2, size // 4 : 3 * size // 4] = True
    return mask


@pytest.mark.parametrize("family", ["segformer", "deeplab"])
def test_a_segmenter_is_explained_at_its_decoders_features(family):
    model = getattr(dense, family)()
    x, mask = images((SIZE, SIZE, 3), count=2, seed=5), _mask()
    explainer = camlens.Explainer(model, relu=False)
    maps = explainer(x, targets=Region(1, mask))
    # the backbone's output: the fused features the classification convolution reads
    assert _computes(explainer.layer, model.backbone.output)
    features = keras.ops.convert_to_numpy(model.backbone(x, training=False))
    after = model.layers[model.layers.index(model.backbone) + 1 :]

    def tail(image, a):
        for layer in after:
            a = layer(a, training=False)
        return a

    # the classification convolution comes after (SegFormer's with dropout and a resize)
    assert any(isinstance(layer, keras.layers.Conv2D) for layer in after)
    _check(maps, x, features, tail, mask, channel=1)


def test_basnet_is_explained_at_its_refinement_decoders_features():
    model = dense.basnet()
    backbone = model.backbone
    x, mask = images((SIZE, SIZE, 3), count=1, seed=5), _mask()
    explainer = camlens.Explainer(model, relu=False)
    maps = explainer(x, targets=Region(mask=mask))  # one channel: no class id
    # refine_out = sigmoid(coarse + head(features)): the features the refinement head reads
    refined = _producer(backbone.get_layer("refine_out").input)
    head = _producer(refined.input[1])
    assert explainer.layer is _producer(head.input)
    cut = keras.Model([backbone.input, explainer.layer.output], backbone.output["refine_out"])
    features = keras.ops.convert_to_numpy(
        keras.Model(backbone.input, explainer.layer.output)(x, training=False)
    )
    _check(maps, x, features, lambda image, a: cut([image, a]), mask, reduce="mean")


def test_region_on_a_unets_regression_map_means_or_sums_the_mask():
    model = dense.unet()
    x, mask = images((SIZE, SIZE, 3), count=2, seed=7), _mask()
    explainer = camlens.Explainer(model, relu=False)
    maps = explainer(x, targets=[Region(mask=mask), Region(mask=mask, reduce="sum"), Region()])
    assert explainer.layer.name == "decoder"  # not the output's own 1x1 convolution
    decoder = model.get_layer("decoder").output
    cut = keras.Model([model.input, decoder], model.output)
    features = keras.ops.convert_to_numpy(keras.Model(model.input, decoder)(x))

    def tail(image, a):
        return cut([image, a])

    predicted = keras.ops.convert_to_numpy(model(x))[..., 0]
    np.testing.assert_allclose(maps.scores[:, 0], predicted[:, mask].mean(-1), rtol=1e-5)
    np.testing.assert_allclose(maps.scores[:, 1], predicted[:, mask].sum(-1), rtol=1e-5)
    np.testing.assert_allclose(maps.scores[:, 2], predicted.mean((1, 2)), rtol=1e-5)
    _check(maps, x, features, tail, mask, reduce="mean", k=0)
    _check(maps, x, features, tail, mask, reduce="sum", k=1)
    # mean and sum differ by the region's size: the same normalised map
    np.testing.assert_allclose(maps.heatmaps[:, 0], maps.heatmaps[:, 1], atol=5e-4)


def test_region_on_depth_anythings_depth_map():
    model = dense.depth_anything()
    backbone = model.backbone
    x = images((56, 56, 3), count=2, seed=3)
    # where the first image's depth is above its median (a ReLU gives 0 depth elsewhere)
    depth = keras.ops.convert_to_numpy(model(x)["depths"])[0, ..., 0]
    mask = depth > np.median(depth)
    # the last DINOv2 block's patch tokens (a 4x4 grid), given
    maps = camlens.Explainer(model, layer="layers_1", relu=False)(
        x, targets=Output("depths", Region(mask=mask))
    )
    stages = backbone.feature_extractor({"images": x})
    first, last = (keras.ops.convert_to_numpy(stages[key]) for key in ("stage1", "stage2"))
    after = [model.get_layer(name) for name in ("output_activation", "multiplier", "depths")]

    def tail(n):
        def depth(image, tokens):
            out = backbone.head(
                backbone.neck([keras.ops.convert_to_tensor(first[n : n + 1]), tokens])
            )
            for layer in after:
                out = layer(out)
            return out

        return depth

    for n in range(2):

        def score(tokens, n=n):
            return _region(tail(n)(None, tokens), mask, reduce="mean")

        value, grads = gradient(score, last[n : n + 1])
        grid = (4, 4, last.shape[-1])
        expected = gradcam(last[n, 1:].reshape(grid), grads[0, 1:].reshape(grid), relu=False)
        np.testing.assert_allclose(maps.heatmaps[n, 0], expected, atol=1e-4)
        assert maps.scores[n, 0] == pytest.approx(float(value), rel=1e-4)


def test_bad_regions_on_dense_outputs_get_clear_errors():
    seg = dense.unet()
    x = images((SIZE, SIZE, 3))
    with pytest.raises(ValueError, match=r"Region\(mask\) must have the output's spatial shape"):
        camlens.Explainer(seg)(x, targets=Region(mask=np.ones((4, 4), bool)))
    with pytest.raises(ValueError, match="out of range"):
        camlens.Explainer(seg)(x, targets=Region(2))
    with pytest.raises(ValueError, match="reduce"):
        Region(reduce="max")
    inputs = keras.Input((SIZE, SIZE, 3))
    three = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="one-channel regression map"):
        camlens.Explainer(three, layer=1)(x, targets=Region())
    flat = keras.Sequential([inputs, keras.layers.Conv2D(2, 3), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="dense output"):
        camlens.Explainer(flat)(x, targets=Region(mask=np.ones((SIZE, SIZE), bool)))


def test_depth_anythings_automatic_layer_is_the_fused_map_its_head_reads():
    """The neck returns its fused maps as a list; the depth head reads the last
    (head_in_index=-1), finer than the patches: the automatic choice explains it,
    as `layer="neck", output_index=-1` does."""
    model = dense.depth_anything()
    backbone = model.backbone
    x = images((56, 56, 3), count=1, seed=4)
    depth = keras.ops.convert_to_numpy(model(x)["depths"])[0, ..., 0]
    mask = depth > np.median(depth)
    target = Output("depths", Region(mask=mask))
    explainer = camlens.Explainer(model, relu=False)
    maps = explainer(x, targets=target)
    assert explainer.layer is backbone.neck and explainer.output_index == 1
    given = camlens.Explainer(model, layer="neck", output_index=-1, relu=False)(x, targets=target)
    np.testing.assert_allclose(given.heatmaps, maps.heatmaps, atol=1e-6)
    stages = backbone.feature_extractor({"images": x})
    fused = backbone.neck([stages["stage1"], stages["stage2"]])
    coarse, fine = (keras.ops.convert_to_numpy(t) for t in (fused[0], fused[-1]))
    after = [model.get_layer(name) for name in ("output_activation", "multiplier", "depths")]

    def score(features):
        out = backbone.head([keras.ops.convert_to_tensor(coarse), features])
        for layer in after:
            out = layer(out)
        return _region(out, mask, reduce="mean")

    value, grads = gradient(score, fine)
    assert fine.shape[1:3] == maps.heatmaps.shape[2:] and fine.shape[1] > 4  # finer than 4x4
    expected = gradcam(fine[0], grads[0], relu=False)
    np.testing.assert_allclose(maps.heatmaps[0, 0], expected, atol=1e-4)
    assert maps.scores[0, 0] == pytest.approx(float(value), rel=1e-4)
