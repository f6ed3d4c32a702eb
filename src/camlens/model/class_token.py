"""CLIP's vision tower run for its class token alone after the explained block.

CLIP pools the class token: the prompts' logits read token 0 of the last
block's output (through the encoder's final layer norm and the projection). So
the tokens of any earlier block reach the logits only through the last block's
class-token row: its attention with the class token as the only query (every
token still gives keys and values), then its MLP on that one row. Run that
way, the last block costs about a sixth of its full work, and the backward pass
of each prompt goes through one row instead of every token's. The logits are
those of the whole tower: `api.prompt_path` checks it on the model before it
takes this path.

Only keras-hub's CLIP is recognised (its pre-norm `CLIPEncoderLayer` and the
`CLIPVisionPooler` of token 0); MetaCLIP 2 pools first and normalises after,
SigLIP pools by attention over every token: both keep the whole tower.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

_BLOCK_PARTS = ("layer_norm_1", "attention", "layer_norm_2", "dense_1", "activation", "dense_2")


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
        or not all(hasattr(blocks[-1], part) for part in _BLOCK_PARTS)
        or not all(hasattr(encoder, part) for part in ("embedding", "pre_layer_norm", "layer_norm"))
        or isinstance(getattr(encoder, "output", None), dict)  # intermediate outputs
        or projection is None
    ):
        return None
    return ClassTokenPath(encoder, tuple(blocks[:-1]), blocks[-1], pooler, projection)
