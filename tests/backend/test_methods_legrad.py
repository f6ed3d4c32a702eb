"""LeGrad: the gradients at each block's attention probabilities against autodiff
over a transformer written out by hand (`support.attention`), the map against
numpy post-processing of those gradients, keras-hub's ViT, DeiT and CLIP vision
tower explained and left unchanged, and a CNN refused."""

import keras
import numpy as np
import pytest

import camlens
from camlens.methods import METHODS, class_methods
from camlens.model.attention import attention_blocks
from camlens.model.capture import capture
from camlens.model.inspection import inspect
from camlens.model.keras_internals import all_layers
from camlens.targets import Prompt
from support import attention as tiny
from support.hub import images

TARGETS = [0, 2]


@pytest.fixture(scope="module")
def model():
    return tiny.tiny_transformer()


@pytest.fixture(scope="module")
def x():
    return images((tiny.SIZE, tiny.SIZE, 3), count=2, seed=5)


def _references(model, x):
    """Per block, (N, K, heads, T, T) the layer-wise gradients by autodiff."""
    return [
        np.stack([tiny.layerwise_gradient(model, x, index, k) for k in TARGETS], axis=1)
        for index in range(tiny.BLOCKS)
    ]


def test_attention_gradients_match_autodiff_and_the_map_numpy(model, x):
    explainer = camlens.Explainer(model, method="legrad")
    inputs, _, _ = explainer.method_inputs(explainer.prepare(x), TARGETS)
    found = inputs.attention_gradients()
    references = _references(model, x)
    grid = tiny.SIZE // tiny.PATCH
    assert len(found) == tiny.BLOCKS
    for block, (got, expected) in enumerate(zip(found, references)):
        laid_out = expected[..., 1:].reshape(expected.shape[:4] + (grid, grid))
        assert np.abs(expected).max() > 1e-4, block  # a gradient worth comparing
        np.testing.assert_allclose(got, laid_out, atol=1e-4, rtol=0, err_msg=f"block {block}")

    # LeGrad from the reference gradients: ReLU, mean over heads and query rows,
    # the class token's column dropped, summed over blocks, ReLU and maximum
    summed = sum(np.maximum(g, 0).mean(axis=(2, 3)) for g in references)
    expected = summed[..., 1:].reshape(len(x), len(TARGETS), grid, grid)
    expected = expected / (expected.max(axis=(2, 3), keepdims=True) + 1e-7)
    maps = explainer(x, targets=TARGETS)
    np.testing.assert_allclose(maps.heatmaps, expected, atol=1e-4)


def test_each_block_is_scored_by_its_own_tokens_not_the_final_output(model, x):
    """The reference above discriminates: block 0's gradient of the model's final
    output (the later blocks run) is another one."""
    explainer = camlens.Explainer(model, method="legrad")
    inputs, _, _ = explainer.method_inputs(explainer.prepare(x), TARGETS)  # compiled above
    first = inputs.attention_gradients()[0][:, 0]
    final = tiny.layerwise_gradient(model, x, 0, TARGETS[0], final=True)[..., 1:]
    assert np.abs(first - final.reshape(first.shape)).max() > 10 * 1e-4


def test_a_layer_without_the_attentions_tokens_is_refused(model, x):
    """The key tokens are laid out on the explained layer's grid: a convolution's
    grid (the patch embedding) is not those tokens."""
    explainer = camlens.Explainer(model, method="legrad", layer="patches")
    with pytest.raises(ValueError, match="does not output those 17 tokens"):
        explainer(x, targets=TARGETS)


def _unchanged(model, x, run):
    """Run `run()`, checking the model's outputs and its attention's fused path after."""
    before = keras.ops.convert_to_numpy(model(x, training=False))
    result = run()
    after = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_array_equal(before, after)
    blocks = attention_blocks(model)
    for layer in all_layers(model):
        assert "call" not in vars(layer), layer.name  # no shadow left behind
    calls = []
    softmaxes = {(block.softmax, "call"): _counted(calls) for block in blocks}
    with capture(softmaxes):
        model(x, training=False)
    assert not calls  # the fused dot_product_attention again: no Softmax layer runs
    return result


def _counted(calls):
    def intercept(original, *args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    return intercept


@pytest.mark.parametrize("name", ["vit", "deit"])
def test_keras_hub_transformers_get_a_map_and_stay_unchanged(name, request):
    model, x = request.getfixturevalue(name), images(count=2)
    maps = _unchanged(model, x, lambda: camlens.Explainer(model, method="legrad")(x, [0, 1]))
    assert maps.heatmaps.shape == (2, 2, 4, 4)  # the 64x64 input's 16x16 patches
    assert np.all(maps.heatmaps >= 0) and np.all(maps.heatmaps <= 1)
    assert np.all(maps.heatmaps.max(axis=(2, 3)) > 0.99)  # not blank
    assert np.all(maps.heatmaps.std(axis=(2, 3)) > 0.01)


def test_blocks_are_taken_in_the_order_they_run(vit):
    """keras-hub's ViT lists its blocks out of order in its layer tree."""
    encoder = vit.backbone.get_layer("vit_encoder")
    order = inspect(vit, (1, 64, 64, 3)).layers_in_call_order()
    assert [b.block for b in attention_blocks(vit, order)] == list(encoder.encoder_layers)


def test_clip_vision_tower_gets_a_map_per_prompt():
    pytest.importorskip("keras_hub")
    from support import image_text

    clip, x = image_text.clip(), images((image_text.SIZE,) * 2 + (3,), count=2, seed=11)
    cat, dog = [0, 5, 9, 1], [0, 7, 1, 0]
    explainer = camlens.Explainer(clip, method="legrad")
    maps = explainer(x, targets=[Prompt(cat), Prompt(dog)])
    assert maps.heatmaps.shape == (2, 2, 4, 4)
    assert np.all(maps.heatmaps >= 0) and np.all(maps.heatmaps <= 1)
    assert np.all(maps.heatmaps.max(axis=(2, 3)) > 0.99)
    assert np.abs(maps.heatmaps[:, 0] - maps.heatmaps[:, 1]).max() > 0.01  # prompt-specific


def test_attention_pooling_is_refused_with_its_reason():
    """SigLIP pools its tokens with an attention head: LeGrad's form for it (the
    pooling's attention at every block) is not built, and says so."""
    pytest.importorskip("keras_hub")
    from support import image_text

    siglip, x = image_text.siglip(), images((image_text.SIZE,) * 2 + (3,), seed=11)
    explainer = camlens.Explainer(siglip, method="legrad")
    with pytest.raises(ValueError, match="attention-pooling head"):
        explainer(x, targets=Prompt([1, 2, 3, 4, 5, 6, 7, 8]))


def test_a_cnn_is_refused_with_the_layers_legrad_needs():
    cnn = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    with pytest.raises(ValueError, match="MultiHeadAttention.*has none"):
        camlens.Explainer(cnn, method="legrad")(images((16, 16, 3)))


def test_legrad_is_not_among_the_methods_every_model_takes():
    assert METHODS["legrad"].attention_only and "legrad" not in class_methods()
