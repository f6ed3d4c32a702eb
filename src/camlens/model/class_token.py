"""Vision towers run for their class token alone after the explained block.

CLIP pools the class token: the prompts' logits read token 0 of the last
block's output (through the encoder's final layer norm and the projection). So
the tokens of any earlier block reach the logits only through the last block's
class-token row: its attention with the class token as the only query (every
token still gives keys and values), then its MLP on that one row. Run that
way, the last block costs about a sixth of its full work, and the backward pass
of each prompt goes through one row instead of every token's. The logits are
those of the whole tower: `api.class_token_parts` checks it on the model before it
takes this path.

Only keras-hub's CLIP is recognised (its pre-norm `CLIPEncoderLayer` and the
`CLIPVisionPooler` of token 0); MetaCLIP 2 pools first and normalises after,
SigLIP pools by attention over every token: both keep the whole tower.

A headless DINOv2 compared by its class token (`Similarity`, `pooling="class"`)
is the same case: its last block's patch tokens reach no score. Its tokens are
the backbone's output, so `DINOv2ClassToken` still runs the last block whole
for them, but out of the gradient's way, and only the class token's row for
the score: the backward pass crosses one row of the last block.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import keras

from .keras_internals import producing_layer

_CLIP_PARTS = ("layer_norm_1", "attention", "layer_norm_2", "dense_1", "activation", "dense_2")


@dataclass(frozen=True)
class ClassTokenPath:
    """The pieces of a CLIP vision tower, in the order they run.

    Attributes:
        encoder: the vision encoder (its `embedding`, `pre_layer_norm` and
            final `layer_norm` are called).
        blocks: every encoder block but the last, run whole.
        last: the last block, run for the class token's row.
        pooler: the backbone's vision pooler (token 0).
        projection: the backbone's vision projection.
    """

    encoder: keras.Model
    blocks: tuple
    last: keras.layers.Layer
    pooler: keras.layers.Layer
    projection: keras.layers.Layer

    def embeddings(self, images):
        """(N, D) image embeddings, as the backbone's `get_vision_embeddings`."""
        tokens = self.encoder.pre_layer_norm(self.encoder.embedding(images))
        for block in self.blocks:
            tokens = block(tokens)
        last = self.last
        normed = last.layer_norm_1(tokens)
        row = tokens[:, :1] + last.attention(normed[:, :1], normed, normed)
        row = row + last.dense_2(last.activation(last.dense_1(last.layer_norm_2(row))))
        return self.projection(self.pooler(self.encoder.layer_norm(row)))


def class_token_path(backbone) -> ClassTokenPath | None:
    """The `ClassTokenPath` of a keras-hub CLIP backbone, `None` for another model."""
    encoder = getattr(backbone, "vision_encoder", None)
    pooler = getattr(backbone, "vision_pooler", None)
    projection = getattr(backbone, "vision_projection", None)
    blocks = list(getattr(encoder, "encoder_layers", None) or [])
    if (
        len(blocks) < 2
        or type(pooler).__name__ != "CLIPVisionPooler"
        or type(blocks[-1]).__name__ != "CLIPEncoderLayer"
        or getattr(blocks[-1], "use_causal_mask", True)
        or not all(hasattr(blocks[-1], part) for part in _CLIP_PARTS)
        or not all(hasattr(encoder, part) for part in ("embedding", "pre_layer_norm", "layer_norm"))
        or isinstance(getattr(encoder, "output", None), dict)  # intermediate outputs
        or projection is None
    ):
        return None
    return ClassTokenPath(encoder, tuple(blocks[:-1]), blocks[-1], pooler, projection)


_DINOV2_PARTS = ("norm1", "attention", "layer_scale1", "norm2", "mlp", "layer_scale2")


@dataclass(frozen=True)
class DINOv2ClassToken:
    """The pieces of a keras-hub DINOv2 backbone, in the order they run.

    Attributes:
        embeddings: the patch, class and register token embedding.
        blocks: every encoder block but the last, run whole.
        last: the last block: whole for the patch tokens, out of the gradient's
            way, and again for the class token's row.
        layernorm: the backbone's final layer norm (per token).
    """

    embeddings: keras.layers.Layer
    blocks: tuple
    last: keras.layers.Layer
    layernorm: keras.layers.Layer

    def tokens(self, images):
        """(N, T, D), the backbone's output; only token 0 carries gradients."""
        tokens = self.embeddings(images)
        for block in self.blocks:
            tokens = block(tokens)
        last = self.last
        patches = last(keras.ops.stop_gradient(tokens))[:, 1:]
        normed = last.norm1(tokens)
        attended = last.attention.attention(query=normed[:, :1], value=normed, key=normed)
        row = tokens[:, :1] + last.layer_scale1(attended)
        row = row + last.layer_scale2(last.mlp(last.norm2(row)))
        return self.layernorm(keras.ops.concatenate([row, patches], axis=1))


def dinov2_class_token(backbone) -> DINOv2ClassToken | None:
    """The `DINOv2ClassToken` of a keras-hub DINOv2 backbone, `None` for another model."""
    if type(backbone).__name__ != "DINOV2Backbone":
        return None
    blocks = list(getattr(getattr(backbone, "encoder", None), "layers", None) or [])
    layernorm = getattr(backbone, "layernorm", None)
    try:
        output = backbone.output
    except (AttributeError, ValueError):
        return None
    if (
        len(blocks) < 2
        or type(blocks[-1]).__name__ != "DINOV2Layer"
        or not all(hasattr(blocks[-1], part) for part in _DINOV2_PARTS)
        or not isinstance(
            getattr(blocks[-1].attention, "attention", None), keras.layers.MultiHeadAttention
        )
        or getattr(backbone, "embeddings", None) is None
        or isinstance(output, (dict, list, tuple))
        or layernorm is None
        or producing_layer(output) is not layernorm
    ):
        return None
    return DINOv2ClassToken(backbone.embeddings, tuple(blocks[:-1]), blocks[-1], layernorm)


class ClassTokenBackbone(keras.Model):
    """A DINOv2 backbone run by its `DINOv2ClassToken`: the same tokens for the
    same images (a dict `{"images": ...}` or the array), the same layers."""

    def __init__(self, backbone: keras.Model, path: DINOv2ClassToken):
        super().__init__(name=backbone.name)
        self.tower_layers = [
            layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)
        ]
        self.class_token = path
        self.built = True

    def call(self, inputs, training=None):  # inference only: `training` is accepted, unused
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        return self.class_token.tokens(images)


_backbones: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # backbone -> model or None
_backbones_lock = threading.Lock()


def class_token_backbone(model) -> ClassTokenBackbone | None:
    """The cached `ClassTokenBackbone` of a keras-hub DINOv2 backbone, `None` for another."""
    with _backbones_lock:
        if model not in _backbones:
            path = dinov2_class_token(model)
            _backbones[model] = None if path is None else ClassTokenBackbone(model, path)
        return _backbones[model]
