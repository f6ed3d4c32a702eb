"""Token outputs as grids: keras-hub ViT, DeiT and Swin against a backend-autodiff reference."""

import warnings

import keras
import numpy as np
import pytest

import camlens
from camlens.model.token_grid import Layout, layout_for
from support import hub as hub_models
from support.hub import gradcam, gradient, images

pytest.importorskip("keras_hub")
TARGET = 2


@pytest.fixture(scope="module")
def vit_wide():
    return hub_models.vit(image_shape=(64, 96, 3))


def encoder_reference(model, x, embedding, encoder, blocks_before, prefix, grid):
    """Grad-CAM at the output of block `blocks_before` (0: the embedding), by hand.

    The forward pass is rebuilt from the model's own layers; the head reads the
    first (class) token, as keras-hub's classifiers with `pooling="token"` do.
    """
    backbone = model.backbone
    embed, enc = backbone.get_layer(embedding), backbone.get_layer(encoder)

    def block(layer, tokens):
        out = layer(tokens)
        return out[0] if isinstance(out, (tuple, list)) else out

    tokens = embed(x)
    for layer in enc.encoder_layers[:blocks_before]:
        tokens = block(layer, tokens)

    def score(tokens):
        for layer in enc.encoder_layers[blocks_before:]:
            tokens = block(layer, tokens)
        return model.output_dense(enc.layer_norm(tokens)[:, 0])[0, TARGET]

    tokens = keras.ops.convert_to_numpy(tokens)
    _, grads = gradient(score, tokens)
    to_grid = lambda a: a[0, prefix:].reshape(*grid, -1)  # noqa: E731
    return gradcam(to_grid(tokens), to_grid(grads))


def explain(model, x, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", camlens.ZeroGradientWarning)
        return camlens.explain_prediction(model, x, targets=[TARGET], **kwargs)


def test_vit_automatic_layer_is_the_input_of_the_last_block(vit):
    x = images()
    expl = explain(vit, x)
    assert expl.layer == "transformer_block_1"
    expected = encoder_reference(vit, x, "vit_patching_and_embedding", "vit_encoder", 1, 1, (4, 4))
    assert expl.targets[0].heatmap.shape == (4, 4)
    assert np.abs(expl.targets[0].heatmap - expected).max() < 1e-4
    assert expected.std() > 0.05  # a map that locates something


def test_vit_explicit_layer_on_a_non_square_input(vit_wide):
    x = images((64, 96, 3))
    expl = explain(vit_wide, x, layer="transformer_block_1")
    expected = encoder_reference(
        vit_wide, x, "vit_patching_and_embedding", "vit_encoder", 1, 1, (4, 6)
    )
    assert expl.targets[0].heatmap.shape == (4, 6)
    assert np.abs(expl.targets[0].heatmap - expected).max() < 1e-4


def test_vit_given_grid_and_prefix_match_the_inferred_ones(vit):
    x = images()
    inferred = explain(vit, x).targets[0].heatmap
    given = explain(vit, x, token_grid=(4, 4), prefix_tokens=1).targets[0].heatmap
    np.testing.assert_array_equal(given, inferred)
    with pytest.raises(ValueError, match="do not fit token_grid=\\(4, 5\\)"):
        explain(vit, x, layer="transformer_block_1", token_grid=(4, 5))
    with pytest.raises(ValueError, match="token_grid=\\(4, 5\\)"):
        explain(vit, x, token_grid=(4, 5))


def test_vit_last_block_warns_that_the_score_does_not_depend_on_it(vit):
    with pytest.warns(camlens.ZeroGradientWarning, match="'transformer_block_2'.*layer=None"):
        expl = camlens.explain_prediction(vit, images(), layer="transformer_block_2")
    assert not expl.targets[0].heatmap.any()


def test_deit_drops_its_class_and_distillation_tokens(deit):
    x = images()
    expl = explain(deit, x)
    assert expl.layer == "transformer_block_1"  # its call returns (tokens, scores)
    expected = encoder_reference(
        deit, x, "deit_patching_and_embedding", "deit_encoder", 1, 2, (4, 4)
    )
    assert np.abs(expl.targets[0].heatmap - expected).max() < 1e-4


def test_swin_automatic_layer_is_the_final_norm_of_the_last_stage(swin):
    x = images()
    expl = explain(swin, x, relu=False)  # random weights: the map may be all negative
    assert expl.layer == "norm"
    backbone = swin.backbone
    tokens = x
    for name in ("patch_embedding", "pos_drop", "stage_0", "stage_1", "norm"):
        tokens = backbone.get_layer(name)(tokens)
    tokens = keras.ops.convert_to_numpy(tokens)

    def score(tokens):
        return swin.output_dense(keras.ops.mean(tokens, axis=1))[0, TARGET]

    _, grads = gradient(score, tokens)
    expected = gradcam(tokens[0].reshape(8, 8, -1), grads[0].reshape(8, 8, -1), relu=False)
    assert np.abs(expl.targets[0].heatmap - expected).max() < 1e-4


@pytest.mark.parametrize(
    ("tokens", "size", "expected"),
    [
        (197, (224, 224), Layout(1, (14, 14))),
        (25, (64, 96), Layout(1, (4, 6))),
        (18, (64, 64), Layout(2, (4, 4))),
        (64, (64, 64), Layout(0, (8, 8))),
        (21, (64, 64), Layout(5, (4, 4))),
    ],
)
def test_grid_inference(tokens, size, expected):
    assert layout_for((1, tokens, 8), (1, *size, 3), "layer") == expected


def test_tokens_that_fit_no_grid_name_the_options():
    with pytest.raises(ValueError, match="token_grid=\\(rows, columns\\)"):
        layout_for((1, 7, 8), (1, 64, 96, 3), "layer", prefix_tokens=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"token_grid": (4,)}, "token_grid must be"),
        ({"token_grid": (0, 4)}, "token_grid must be"),
        ({"prefix_tokens": -1}, "prefix_tokens must be"),
        ({"prefix_tokens": 1.5}, "prefix_tokens must be"),
    ],
)
def test_bad_grid_options(vit, options, message):
    with pytest.raises(ValueError, match=message):
        camlens.Explainer(vit, **options)


def test_a_later_call_tries_the_settled_layer_first(monkeypatch):
    from camlens.probe import Probe

    vit = hub_models.vit()  # its own model: no earlier choice settled
    runs = []
    original = Probe.run
    monkeypatch.setattr(
        Probe, "run", lambda self, *a, **k: runs.append(self.layer.name) or original(self, *a, **k)
    )
    x = hub_models.images(seed=11)
    first = camlens.explain_prediction(vit, x)
    # the final norm and the last block come first, with zero gradients
    assert runs == ["ln", "transformer_block_2", "transformer_block_1"]
    runs.clear()
    again = camlens.explain_prediction(vit, x)
    assert runs == ["transformer_block_1"]  # one pass, not two
    assert again.layer == first.layer
    np.testing.assert_allclose(again.targets[0].heatmap, first.targets[0].heatmap, atol=1e-5)
