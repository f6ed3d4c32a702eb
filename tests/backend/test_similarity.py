"""`Similarity` targets: the cosine similarity of the model's embedding with a reference.

References: the embedding computed from the explained layer's activations with
the model's own layers, the cosine written with keras.ops in the test,
differentiated by the backend's autodiff, Grad-CAM in numpy.
"""

import keras
import numpy as np
import pytest

import camlens
from camlens import BlankMapWarning
from camlens.api.class_token_parts import class_token_part
from camlens.model.class_token import ClassTokenBackbone, DINOv2ClassToken
from camlens.targets import Similarity
from support import families
from support.hub import gradcam, gradient, images

SIZE = 16


def _cosine(embedding, reference):
    reference = keras.ops.convert_to_tensor(reference, "float32")
    dot = keras.ops.sum(embedding * reference, axis=-1)
    norms = keras.ops.norm(embedding, axis=-1) * keras.ops.norm(reference, axis=-1)
    return dot / norms


@pytest.fixture(scope="module")
def cnn():
    """A small CNN embedding model: two convolutions, average pooling, a linear embedding."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="first")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="last")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(5, name="embedding")(x), name="embedder")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _cnn_reference(model, x, reference):
    features = keras.ops.convert_to_numpy(
        keras.Model(model.input, model.get_layer("last").output)(x)
    )
    head = [model.get_layer("pool"), model.get_layer("embedding")]

    def total(value):
        for layer in head:
            value = layer(value)
        return keras.ops.sum(_cosine(value, reference))

    _, grads = gradient(total, features)
    return np.stack([gradcam(a, g, relu=False) for a, g in zip(features, grads)])


def test_similarity_on_a_cnn_embedding_matches_autodiff(cnn):
    x = images((SIZE, SIZE, 3), count=3, seed=4)
    rng = np.random.default_rng(1)
    # references far from the embeddings: the cosine's gradient near 1 is a
    # difference of near-equal terms, float32 noise (and 0 at 1 itself)
    vector, per_image = rng.normal(size=5), rng.normal(size=(3, 5))
    explainer = camlens.Explainer(cnn, relu=False)
    maps = explainer(x, targets=[Similarity(vector), Similarity(per_image)])
    assert explainer.layer.name == "last"
    embeddings = keras.ops.convert_to_numpy(cnn(x))
    for k, reference in enumerate([np.tile(vector, (3, 1)), per_image]):
        np.testing.assert_allclose(
            maps.heatmaps[:, k], _cnn_reference(cnn, x, reference), atol=1e-4
        )
        cosine = (embeddings * reference).sum(-1) / (
            np.linalg.norm(embeddings, axis=-1) * np.linalg.norm(reference, axis=-1)
        )
        np.testing.assert_allclose(maps.scores[:, k], cosine, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(maps.targets, -1)


def test_a_reference_image_is_compared_by_its_embedding(cnn):
    x = images((SIZE, SIZE, 3), count=3, seed=4)
    by_image = camlens.Explainer(cnn)(x, targets=Similarity(x[2]))
    by_vector = camlens.Explainer(cnn)(x, targets=Similarity(keras.ops.convert_to_numpy(cnn(x))[2]))
    # the same cosines (the maps, near a cosine of 1, are float32 noise apart)
    np.testing.assert_allclose(by_image.scores, by_vector.scores, rtol=1e-6)
    assert by_image.scores[2, 0] == pytest.approx(
        1.0, abs=1e-6
    )  # an image against its own embedding


@pytest.fixture(scope="module")
def dinov2():
    """DINOv2 with four register tokens, headless (its output: the tokens); its
    layer scales drawn at random, not the ones they start at (all 1)."""
    pytest.importorskip("keras_hub")
    model = families.dinov2(hidden_dim=32, register_tokens=4)
    rng = np.random.default_rng(5)
    for weight in model.weights:
        if weight.path.endswith("lambda1"):
            weight.assign(rng.uniform(0.2, 1.5, weight.shape).astype(np.float32))
    return model


def _dinov2_reference(backbone, x, reference, pooled, at: int, prefix: int = 5):
    """Signed Grad-CAM of the cosine at the output of encoder block `at` (0-based),
    the blocks run one by one; the `prefix` class and register tokens dropped."""
    blocks = backbone.get_layer("encoder").layers
    tokens = backbone.get_layer("embeddings")(x)
    for block in blocks[: at + 1]:
        tokens = block(tokens, training=False)
    tokens = keras.ops.convert_to_numpy(tokens)

    def total(value):
        for block in blocks[at + 1 :]:
            value = block(value, training=False)
        return keras.ops.sum(_cosine(pooled(backbone.get_layer("layernorm")(value)), reference))

    _, grads = gradient(total, tokens)
    grid = (4, 4, tokens.shape[-1])
    return np.stack(
        [
            gradcam(a[prefix:].reshape(grid), g[prefix:].reshape(grid), relu=False)
            for a, g in zip(tokens, grads)
        ]
    )


def test_similarity_on_dinov2_tokens_reads_the_class_token_or_the_mean_of_patches(dinov2):
    x = images((56, 56, 3), count=2, seed=8)
    tokens = keras.ops.convert_to_numpy(dinov2({"images": x}))
    reference = np.random.default_rng(2).normal(size=32)
    explainer = camlens.Explainer(dinov2, relu=False)
    maps = explainer(x, targets=[Similarity(reference), Similarity(x[1])])
    # the class token: the last block's patch tokens do not reach it, the first's do
    assert explainer.layer.name == "layers_0"
    expected = _dinov2_reference(dinov2, x, reference, lambda t: t[:, 0], at=0)
    np.testing.assert_allclose(maps.heatmaps[:, 0], expected, atol=1e-4)
    assert maps.scores[1, 1] == pytest.approx(1.0, abs=1e-6)  # its own class token

    mean = camlens.Explainer(dinov2, relu=False)
    patches = tokens[:, 5:].mean(axis=1)  # 1 class and 4 register tokens left out
    mapped = mean(
        x, targets=[Similarity(reference, pooling="mean"), Similarity(x[1], pooling="mean")]
    )
    assert mean.layer.name == "layernorm"  # every patch token reaches the mean
    assert mapped.scores[1, 1] == pytest.approx(1.0, abs=1e-6)
    cosine = patches @ reference / (np.linalg.norm(patches, axis=-1) * np.linalg.norm(reference))
    np.testing.assert_allclose(mapped.scores[:, 0], cosine, rtol=1e-4)
    # the reference at the last block, chosen explicitly (the layer norm after it
    # is per token: the same tokens reach the mean)
    expected = _dinov2_reference(dinov2, x, reference, lambda t: keras.ops.mean(t[:, 5:], 1), at=1)
    at_block = camlens.Explainer(dinov2, layer="layers_1", relu=False)
    np.testing.assert_allclose(
        at_block(x, targets=Similarity(reference, pooling="mean")).heatmaps[:, 0],
        expected,
        atol=1e-4,
    )


def test_later_class_token_calls_run_the_last_block_for_one_row(dinov2):
    """Once the layer is chosen, a DINOv2 compared by its class token runs its last
    block's class-token row for the score: the maps, scores and output tokens
    stay those of the whole backbone."""
    x = images((56, 56, 3), count=2, seed=8)
    reference = np.random.default_rng(2).normal(size=32)
    explainer = camlens.Explainer(dinov2, relu=False)
    first = explainer(x, targets=Similarity(reference))
    targets = [Similarity(reference), Similarity(x[1])]
    part, resolved = class_token_part(explainer, explainer.prepare(x), targets)
    assert isinstance(part.model, ClassTokenBackbone) and part.layer is explainer.layer
    assert not resolved[1].is_image  # the reference image's embedding, from the whole model
    maps = explainer(x, targets=targets)
    expected = _dinov2_reference(dinov2, x, reference, lambda t: t[:, 0], at=0)
    np.testing.assert_allclose(maps.heatmaps[:, 0], expected, atol=1e-4)
    np.testing.assert_allclose(maps.heatmaps[:, 0], first.heatmaps[:, 0], atol=1e-5)
    assert maps.scores[1, 1] == pytest.approx(1.0, abs=1e-6)  # its own class token
    tokens = keras.ops.convert_to_numpy(dinov2({"images": x}))
    np.testing.assert_allclose(maps.outputs, tokens, rtol=1e-5, atol=1e-5)
    mean = Similarity(reference, pooling="mean")  # every patch token: the whole backbone
    assert class_token_part(explainer, explainer.prepare(x), [Similarity(reference), mean]) is None


def test_an_image_against_its_own_embedding_warns_of_a_blank_map(dinov2):
    """A cosine at its peak, 1, has no gradient: the map is blank, and said so."""
    x = images((56, 56, 3), count=2, seed=8)
    with pytest.warns(BlankMapWarning, match="its own embedding") as caught:
        maps = camlens.Explainer(dinov2)(x, targets=Similarity(x[1]))
    assert maps.scores[1, 0] == pytest.approx(1.0, abs=1e-6)
    # blank: under half the top after normalisation (its raw peak under the floor)
    assert maps.heatmaps[1].max() < 0.5 and maps.heatmaps[0].max() > 0.99
    blank = [str(w.message) for w in caught if issubclass(w.category, BlankMapWarning)]
    assert blank and all("1 of 2 (image, target) pairs" in message for message in blank)


def test_a_dinov2_class_token_path_that_disagrees_is_not_taken(monkeypatch):
    model = families.dinov2(hidden_dim=16)
    original = DINOv2ClassToken.tokens
    monkeypatch.setattr(DINOv2ClassToken, "tokens", lambda self, i: original(self, i) + 0.5)
    x = images((56, 56, 3), count=2, seed=3)
    reference = np.random.default_rng(4).normal(size=16)
    explainer = camlens.Explainer(model, relu=False)
    explainer(x, targets=Similarity(reference))
    assert class_token_part(explainer, explainer.prepare(x), Similarity(reference)) is None
    maps = explainer(x, targets=Similarity(reference))
    expected = _dinov2_reference(model, x, reference, lambda t: t[:, 0], at=0, prefix=1)
    np.testing.assert_allclose(maps.heatmaps[:, 0], expected, atol=1e-4)


def test_similarity_on_a_dinov2_transfer_model(dinov2):
    """A transfer-learning model: the backbone's class token through a new embedding head."""
    inputs = keras.Input((56, 56, 3))
    tokens = dinov2({"images": inputs})
    cls = keras.layers.Lambda(lambda t: t[:, 0], output_shape=(32,), name="cls")(tokens)
    model = keras.Model(inputs, keras.layers.Dense(8, name="head")(cls))
    x = images((56, 56, 3), count=2, seed=9)
    reference = np.random.default_rng(3).normal(size=8)
    explainer = camlens.Explainer(model, relu=False)
    maps = explainer(x, targets=[Similarity(reference), Similarity(x[0])])
    assert explainer.layer.name == "layers_0"
    head = model.get_layer("head")
    expected = _dinov2_reference(dinov2, x, reference, lambda t: head(t[:, 0]), at=0)
    np.testing.assert_allclose(maps.heatmaps[:, 0], expected, atol=1e-4)
    assert maps.scores[0, 1] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "target, error, words",
    [
        (lambda: Similarity(np.ones(4)), ValueError, r"embedding's length \(5,\)"),
        (lambda: Similarity(np.ones((2, 5))), ValueError, r"one per image \(3, 5\)"),
        (lambda: Similarity(np.zeros(5)), ValueError, "zero vector"),
        (lambda: Similarity(np.ones(5), pooling="max"), ValueError, "pooling"),
        (lambda: Similarity("cat"), TypeError, "reference"),
        (lambda: Similarity(np.ones(5), output=1.5), TypeError, "output"),
        (lambda: Similarity(np.ones((8, 8, 3))), ValueError, "Similarity\\(reference\\)"),
    ],
)
def test_bad_similarity_targets_get_clear_errors(cnn, target, error, words):
    with pytest.raises(error, match=words):
        camlens.Explainer(cnn)(images((SIZE, SIZE, 3), count=3), targets=target())


def test_similarity_needs_an_embedding_output():
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="embedding"):
        camlens.Explainer(model, layer=1)(images((SIZE, SIZE, 3)), targets=Similarity(np.ones(2)))
