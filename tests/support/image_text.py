"""keras-hub image–text backbones from small configs, their tokenizers from
vocabularies written here, and the reference map of one prompt.

Nothing downloads: the models have seeded random weights; CLIP's BPE
tokenizer is built from a vocabulary and merges listed below, SigLIP's
SentencePiece model is trained in-process on a few sentences.
"""

from __future__ import annotations

import io

import keras
import numpy as np

from support.hub import gradcam, gradient

SIZE = 64
WORDS = ["a", "photo", "of", "cat", "dog", "the", "car", "red"]
# Every tower of the three backbones: two small transformer blocks.
TOWER = {"hidden_dim": 32, "num_layers": 2, "num_heads": 2, "intermediate_dim": 64}


def clip():
    import keras_hub

    keras.utils.set_random_seed(0)
    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=16,
        **TOWER,
        image_shape=(SIZE, SIZE, 3),
    )
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=len(clip_vocabulary()[0]),
        embedding_dim=32,
        **TOWER,
        max_sequence_length=8,
    )
    return keras_hub.models.CLIPBackbone(vision, text, projection_dim=16)


def siglip():
    import keras_hub

    keras.utils.set_random_seed(0)
    vision = keras_hub.models.SigLIPVisionEncoder(
        patch_size=16,
        **TOWER,
        image_shape=(SIZE, SIZE, 3),
    )
    text = keras_hub.models.SigLIPTextEncoder(
        vocabulary_size=64,
        embedding_dim=32,
        **TOWER,
        max_sequence_length=8,
    )
    return keras_hub.models.SigLIPBackbone(vision, text)


def metaclip_2():
    import keras_hub

    keras.utils.set_random_seed(0)
    vision = keras_hub.models.MetaCLIP2VisionEncoder(
        patch_size=16,
        **TOWER,
        image_shape=(SIZE, SIZE, 3),
    )
    text = keras_hub.models.MetaCLIP2TextEncoder(
        vocabulary_size=64,
        embedding_dim=32,
        **TOWER,
        max_sequence_length=8,
    )
    return keras_hub.models.MetaCLIP2Backbone(vision, text, projection_dim=16)


def clip_vocabulary():
    """`(vocabulary, merges)` of a tiny CLIP BPE: every letter, and whole words."""
    vocabulary = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocabulary.setdefault(letter, len(vocabulary))
        vocabulary.setdefault(letter + "</w>", len(vocabulary))
    merges = []
    for word in WORDS:
        if len(word) < 2:
            continue
        merged = word[0]
        for index, letter in enumerate(word[1:], start=1):
            last = index == len(word) - 1
            right = letter + ("</w>" if last else "")
            if f"{merged} {right}" not in merges:
                merges.append(f"{merged} {right}")
            merged += right
            vocabulary.setdefault(merged, len(vocabulary))
    return vocabulary, merges


def clip_preprocessor():
    import keras_hub

    vocabulary, merges = clip_vocabulary()
    tokenizer = keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges)
    return keras_hub.models.CLIPPreprocessor(tokenizer=tokenizer, sequence_length=8)


def siglip_preprocessor():
    """A SigLIP preprocessor whose SentencePiece model is trained here, on a few sentences."""
    import keras_hub
    import sentencepiece

    proto = io.BytesIO()
    sentences = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 4),
        model_writer=proto,
        vocab_size=10,
        model_type="word",
        pad_id=-1,
        unk_id=0,
        bos_id=-1,
        eos_id=1,
        unk_piece="<unk>",
        eos_piece="</s>",
        minloglevel=2,
    )
    tokenizer = keras_hub.models.SigLIPTokenizer(proto=proto.getvalue())
    return keras_hub.models.SigLIPPreprocessor(tokenizer=tokenizer, sequence_length=8)


def image_embedding(backbone, tokens):
    """The image embedding from the vision encoder's output sequence, as the family pools it."""
    name = type(backbone).__name__
    if name == "CLIPBackbone":
        return backbone.vision_projection(backbone.vision_pooler(tokens))
    if name == "MetaCLIP2Backbone":
        pooled = backbone.vision_post_layer_norm(backbone.vision_pooler(tokens))
        return backbone.vision_projection(pooled)
    return tokens  # SigLIP: the vision encoder pools itself


def head(backbone):
    return next(layer for layer in backbone.layers if type(layer).__name__.endswith("Head"))


def prompt_reference(backbone, layer_name: str, x: np.ndarray, token_ids, prefix: int):
    """Signed Grad-CAM of one prompt's logit at `layer_name` of the vision encoder, by hand.

    The vision encoder (a chain of layers in each family) is run layer by
    layer up to the layer and from it on (its symbolic shapes cannot be used
    to cut it: SigLIP's embedding declares a class token it does not output);
    the text embedding is computed once, by the backbone's own text tower; the
    gradient is the backend's autodiff of the head's logits (summed over the
    images, which do not interact) with respect to the layer's tokens; the map
    is Grad-CAM over the patch tokens (the first `prefix` dropped), in numpy.

    Args:
        x: (N, H, W, C) images.

    Returns:
        `(maps (N, gh, gw), logits (N,))`.
    """
    chain = [
        layer
        for layer in backbone.vision_encoder.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    cut = [layer.name for layer in chain].index(layer_name) + 1
    tokens = x
    for layer in chain[:cut]:
        tokens = layer(tokens)
    tokens = keras.ops.convert_to_numpy(tokens)
    text = backbone.get_text_embeddings(keras.ops.convert_to_tensor(np.array([token_ids], "int32")))

    def logits(value):
        for layer in chain[cut:]:
            value = layer(value)
        return head(backbone)(image_embedding(backbone, value), text)[0][:, 0]

    _, grads = gradient(lambda value: keras.ops.sum(logits(value)), tokens)
    patches, grad_patches = tokens[:, prefix:], grads[:, prefix:]
    side = int(round(patches.shape[1] ** 0.5))
    grid = (side, side, patches.shape[-1])
    maps = [
        gradcam(a.reshape(grid), g.reshape(grid), relu=False) for a, g in zip(patches, grad_patches)
    ]
    values = keras.ops.convert_to_numpy(logits(keras.ops.convert_to_tensor(tokens)))
    return np.stack(maps), values.astype(np.float64)
