"""Prompts as targets on keras-hub image–text backbones, and constant inputs.

References: the vision encoder run layer by layer to the explained layer, the
text embedding computed once by the backbone's text tower, the head's logit
differentiated by the backend's autodiff, Grad-CAM in numpy
(`support.image_text.prompt_reference`).
"""

import keras
import numpy as np
import pytest

import camlens
from camlens.api.class_token_parts import class_token_part
from camlens.model.class_token import ClassTokenPath
from camlens.model.image_text import ClassTokenSide, class_token_side, image_side
from camlens.targets import Output, Prompt
from support.hub import images

keras_hub = pytest.importorskip("keras_hub")
from support import image_text  # noqa: E402 (needs keras_hub)

SIZE = image_text.SIZE
CAT, DOG = [0, 5, 9, 1], [0, 7, 1, 0]  # CLIP token ids: start, words, end (its pooler's argmax)


@pytest.fixture(scope="module")
def clip():
    return image_text.clip()


@pytest.fixture(scope="module")
def x():
    return images((SIZE, SIZE, 3), count=2, seed=11)


def _logits(backbone, x, token_ids):
    out = backbone({"images": x, "token_ids": np.array(token_ids, "int32")}, training=False)
    return keras.ops.convert_to_numpy(out["vision_logits"])


def test_each_prompt_of_clip_gets_its_own_map_matching_autodiff(clip, x):
    explainer = camlens.Explainer(clip, relu=False)
    maps = explainer(x, targets=[Prompt(CAT), Prompt(DOG)])
    # CLIP pools its class token: the last block's patch tokens do not reach the
    # embedding, the block before does
    assert explainer.layer.name == "encoder_block_0"
    assert maps.heatmaps.shape == (2, 2, 4, 4)
    np.testing.assert_allclose(maps.scores, _logits(clip, x, [CAT, DOG]), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(maps.targets, [[0, 1], [0, 1]])
    for k, ids in enumerate([CAT, DOG]):
        expected, logits = image_text.prompt_reference(clip, "encoder_block_0", x, ids, 1)
        np.testing.assert_allclose(maps.heatmaps[:, k], expected, atol=1e-4)
        np.testing.assert_allclose(maps.scores[:, k], logits, rtol=1e-4, atol=1e-5)
    assert np.abs(maps.heatmaps[:, 0] - maps.heatmaps[:, 1]).max() > 0.05  # in order, not alike


def test_later_calls_run_the_last_block_for_the_class_token_alone(clip, x):
    """Once the layer is chosen, CLIP's prompts run its last vision block for the
    class token's row only: the maps and logits stay those of the whole tower."""
    explainer = camlens.Explainer(clip, relu=False)
    first = explainer(x, targets=[Prompt(CAT), Prompt(DOG)])
    part, _ = class_token_part(explainer, explainer.prepare(x), [Prompt(CAT)])
    assert isinstance(part.model, ClassTokenSide) and part.layer is explainer.layer
    again = explainer(x, targets=[Prompt(DOG), Prompt(CAT)])
    for k, ids in enumerate([DOG, CAT]):
        expected, logits = image_text.prompt_reference(clip, "encoder_block_0", x, ids, 1)
        np.testing.assert_allclose(again.heatmaps[:, k], expected, atol=1e-4)
        np.testing.assert_allclose(again.scores[:, k], logits, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(again.heatmaps[:, ::-1], first.heatmaps, atol=1e-5)
    for method in ("legrad", "scorecam"):  # they read every block, or masked images
        other = camlens.Explainer(clip, method=method)
        other(x[:1], targets=Prompt(CAT))
        assert class_token_part(other, other.prepare(x[:1]), Prompt(CAT)) is None


def test_a_class_token_path_that_disagrees_with_the_model_is_not_taken(x, monkeypatch):
    clip = image_text.clip()
    original = ClassTokenPath.embeddings
    monkeypatch.setattr(ClassTokenPath, "embeddings", lambda self, i: original(self, i) + 1.0)
    explainer = camlens.Explainer(clip, relu=False)
    explainer(x, targets=Prompt(CAT))
    assert class_token_part(explainer, explainer.prepare(x), Prompt(CAT)) is None
    maps = explainer(x, targets=Prompt(CAT))
    expected, logits = image_text.prompt_reference(clip, "encoder_block_0", x, CAT, 1)
    np.testing.assert_allclose(maps.heatmaps[:, 0], expected, atol=1e-4)
    np.testing.assert_allclose(maps.scores[:, 0], logits, rtol=1e-4, atol=1e-5)


def test_text_prompts_go_through_the_models_preprocessor(clip, x):
    preprocessor = image_text.clip_preprocessor()
    texts = ["a photo of a cat", "a red car"]
    ids = [
        np.asarray(preprocessor({"prompts": [text], "images": None})["token_ids"])[0]
        for text in texts
    ]
    by_ids = camlens.Explainer(clip)(x, targets=[Prompt(i) for i in ids])
    by_text = camlens.Explainer(clip)(x, targets=[Prompt(t, preprocessor) for t in texts])
    by_option = camlens.Explainer(clip, preprocess=preprocessor)(x, targets=[Prompt(texts[1])])
    np.testing.assert_allclose(by_text.heatmaps, by_ids.heatmaps, atol=1e-6)
    np.testing.assert_allclose(by_option.heatmaps[:, 0], by_ids.heatmaps[:, 1], atol=1e-6)
    np.testing.assert_allclose(by_text.scores, _logits(clip, x, ids), rtol=1e-4, atol=1e-5)


def test_siglip_is_explained_at_its_patch_tokens_before_attention_pooling(x):
    backbone = image_text.siglip()
    preprocessor = image_text.siglip_preprocessor()
    explainer = camlens.Explainer(backbone, relu=False)
    maps = explainer(
        x[:1], targets=[Prompt("a red cat", preprocessor), Prompt("dog", preprocessor)]
    )
    # no class token: every patch token of the last layer reaches the pooled embedding
    assert explainer.layer.name == "post_layer_norm"
    assert class_token_side(image_side(backbone)) is None  # attention pooling: every token
    for k, text in enumerate(["a red cat", "dog"]):
        ids = np.asarray(
            preprocessor({"prompts": [text], "images": np.zeros((1, 1, 1, 3))})["token_ids"]
        )[0]
        expected, logits = image_text.prompt_reference(backbone, "post_layer_norm", x[:1], ids, 0)
        np.testing.assert_allclose(maps.heatmaps[:, k], expected, atol=1e-4)
        np.testing.assert_allclose(maps.scores[:, k], logits, rtol=1e-4, atol=1e-5)


def test_metaclip_2_prompts_match_autodiff(x):
    backbone = image_text.metaclip_2()
    explainer = camlens.Explainer(backbone, relu=False)
    maps = explainer(x[1:], targets=Prompt([5, 6, 2]))
    assert explainer.layer.name == "encoder_block_0"
    assert class_token_side(image_side(backbone)) is None  # it pools, then normalises
    expected, logits = image_text.prompt_reference(backbone, "encoder_block_0", x[1:], [5, 6, 2], 1)
    np.testing.assert_allclose(maps.heatmaps[:, 0], expected, atol=1e-4)
    np.testing.assert_allclose(maps.scores[:, 0], logits, rtol=1e-4, atol=1e-5)


def test_the_text_tower_runs_once_per_prompt(clip, x, monkeypatch):
    calls = []
    original = clip.get_text_embeddings

    def counting(token_ids):
        calls.append(tuple(np.shape(token_ids)))
        return original(token_ids)

    monkeypatch.setattr(clip, "get_text_embeddings", counting)
    prompts = [Prompt([0, 11, 12, 1]), Prompt([0, 13, 1]), Prompt([0, 14, 15, 1])]
    explainer = camlens.Explainer(clip, method="scorecam")  # masked passes: the text is not rerun
    first = explainer(x, targets=prompts)
    again = camlens.Explainer(clip)(x, targets=prompts[::-1])
    assert sorted(calls) == [(1, 3), (2, 4)]  # one run per length, none for the second call
    assert first.heatmaps.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(again.scores[:, ::-1], first.scores, rtol=1e-5)


def test_explain_prediction_keeps_and_captions_the_prompts(clip, x):
    from camlens.formatters.explanation import caption_lines

    prompts = [Prompt("a cat", image_text.clip_preprocessor()), Prompt(DOG)]
    expl = camlens.explain_prediction(clip, x[:1], targets=prompts)
    assert [t.target for t in expl.targets] == prompts
    assert caption_lines(expl.targets[0], None)[0] == "a cat"
    picture = camlens.show_prediction(clip, x[:1], targets=prompts[:1])
    assert picture.height > SIZE  # a captioned panel, even for one prompt


def test_a_constant_input_is_fed_whole_to_every_pass(clip):
    """The full backbone, its token ids marked constant: three prompts for any
    number of images, never padded or split, also in masked and padded passes."""
    x = images((SIZE, SIZE, 3), count=3, seed=12)
    token_ids = np.array([CAT, DOG, [0, 8, 1, 0]], "int32")
    outputs = [Output("vision_logits", 1), Output("vision_logits", 2)]
    # a last batch of one image runs padded to two; the token ids stay three rows
    maps = camlens.explain_batch(
        clip,
        [x, token_ids],
        targets=outputs,
        layer="encoder_block_0",
        relu=False,
        constant_inputs=["token_ids"],
        batch_size=2,
    )
    np.testing.assert_allclose(maps.scores, _logits(clip, x, token_ids)[:, 1:], rtol=1e-4)
    expected, _ = image_text.prompt_reference(clip, "encoder_block_0", x, DOG, 1)
    np.testing.assert_allclose(maps.heatmaps[:, 0], expected, atol=1e-4)
    # Score-CAM's masked copies of each image all see the three prompts
    score_cam = camlens.Explainer(
        clip, layer="encoder_block_0", method="scorecam", max_channels=2, constant_inputs=1
    )
    masked = score_cam([x[:2], token_ids], targets=outputs[1:])
    assert masked.heatmaps.shape == (2, 1, 4, 4) and np.isfinite(masked.heatmaps).all()
    np.testing.assert_allclose(masked.scores[:, 0], maps.scores[:2, 1], rtol=1e-5)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (
            lambda clip, x: camlens.Explainer(clip)(x, targets=Prompt("a cat")),
            ValueError,
            "tokenizer",
        ),
        (lambda clip, x: camlens.Explainer(clip)(x, targets=[0, 1]), ValueError, "Prompt"),
        (lambda clip, x: camlens.Explainer(clip)(x), ValueError, "Prompt"),
        (
            lambda clip, x: camlens.Explainer(clip)(
                {"images": x, "token_ids": np.ones((1, 4))}, targets=Prompt(CAT)
            ),
            TypeError,
            "constant_inputs",
        ),
        (
            lambda clip, x: camlens.Explainer(clip, constant_inputs="token_ids")(
                {"images": x, "token_ids": np.ones((4,), "int32")},
                targets=[Output("vision_logits", 0)],
            ),
            ValueError,
            "constant input",
        ),
        (lambda clip, x: camlens.Explainer(clip, constant_inputs="images"), ValueError, "constant"),
        (
            lambda clip, x: camlens.Explainer(clip, constant_inputs="ids"),
            ValueError,
            "constant_inputs",
        ),
        (lambda clip, x: Prompt(1.5), TypeError, "token ids"),
        (lambda clip, x: Prompt([]), ValueError, "no token id"),
        (lambda clip, x: Prompt("a cat", tokenizer="clip"), TypeError, "tokenizer"),
        (lambda clip, x: camlens.Explainer(clip, method="guided-gradcam"), ValueError, "Guided"),
        (lambda clip, x: camlens.Explainer(clip, method="fullgrad"), ValueError, "FullGrad"),
    ],
)
def test_bad_prompts_and_constant_inputs_get_clear_errors(clip, x, call, error, words):
    with pytest.raises(error, match=words):
        call(clip, x)


def test_prompts_on_another_model_are_refused():
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inputs))
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="image–text backbone"):
        camlens.Explainer(model, layer=0)(images((8, 8, 3)), targets=Prompt([0, 1]))
    with pytest.raises(ValueError, match="one input"):
        camlens.Explainer(model, constant_inputs="x")
