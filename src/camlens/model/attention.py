"""A vision transformer's attention blocks, and the calls that read their attention.

LeGrad needs, per block, the attention probabilities (N, heads, T, S) and the
gradient of a score with respect to them. Keras's `MultiHeadAttention` computes
them in its `Softmax` sublayer only on its explicit path: with no dropout and
`return_attention_scores=False` it calls the fused `ops.dot_product_attention`,
and the probabilities never exist as a tensor. `explicit_attention` is an
interceptor for the attention layer's `call` that asks for the scores (forcing
the explicit path) and returns the output alone, so the block sees what it
always sees; the probe then watches the `Softmax` sublayer's output.

LeGrad scores block l with its own intermediate tokens through the model's
final norm and head (the paper's layer-wise score): `skipped_block` makes every
later block hand its input on unchanged, so the model's output is that score.

Both are interceptors for `camlens.model.capture`: the model is the same
before and after, the fused path included.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .keras_internals import all_layers, sublayers

ATTENTION_LAYERS = "keras.layers.MultiHeadAttention"
"""What LeGrad reads, for messages."""


@dataclass(frozen=True)
class AttentionBlock:
    """One transformer block.

    Attributes:
        block: the layer whose call runs the attention (e.g. keras-hub's
            `ViTEncoderBlock`), skipped for the scores of earlier blocks.
        attention: its `keras.layers.MultiHeadAttention`.
        softmax: the attention's `Softmax` sublayer, whose output is watched.
    """

    block: keras.layers.Layer
    attention: keras.layers.MultiHeadAttention
    softmax: keras.layers.Layer


def attention_blocks(
    model: keras.Model, call_order: list | None = None, method: str = "legrad"
) -> list[AttentionBlock]:
    """The attention blocks of `model`, in the order they run.

    Args:
        call_order: the model's layers in the order their calls finished
            (`Inspection.layers_in_call_order`); blocks that did not run are
            left out. `None`: the order of `model`'s layer tree, which is not
            always the order they run (keras-hub's ViT lists its blocks 10,
            11, 1, 2, ...), so only for finding whether there are any.

    Raises:
        ValueError: for a model without `MultiHeadAttention` layers (a CNN), or
            one whose attention is not inside a block layer of its own (LeGrad's
            layer-wise score skips whole blocks).
    """
    layers = all_layers(model)
    blocks = []
    for attention in layers:
        if not isinstance(attention, keras.layers.MultiHeadAttention):
            continue
        parents = [layer for layer in layers if attention in sublayers(layer)]
        if not parents and attention in sublayers(model):
            parents = [model]
        softmaxes = [s for s in sublayers(attention) if isinstance(s, keras.layers.Softmax)]
        if len(parents) != 1 or isinstance(parents[0], keras.Model) or len(softmaxes) != 1:
            raise ValueError(
                f"Method '{method}' scores each attention block on its own, so each "
                f"{ATTENTION_LAYERS} must sit inside a block layer of its own (as in "
                f"keras-hub's ViT, DeiT and CLIP); '{attention.name}' of model "
                f"'{model.name}' does not. Received: method='{method}'"
            )
        blocks.append(AttentionBlock(parents[0], attention, softmaxes[0]))
    if blocks and call_order is not None:
        ran = {id(layer): index for index, layer in enumerate(call_order)}
        blocks = sorted((b for b in blocks if id(b.block) in ran), key=lambda b: ran[id(b.block)])
    if not blocks:
        raise ValueError(
            f"Method '{method}' reads the attention maps of a vision transformer's "
            f"blocks ({ATTENTION_LAYERS} layers, as in keras-hub's ViT, DeiT and CLIP "
            f"vision towers); model '{model.name}' has none. Use a class activation "
            f"map method such as 'gradcam' for it. Received: method='{method}'"
        )
    return blocks


def explicit_attention(original, *args, **kwargs):
    """An interceptor for a `MultiHeadAttention`'s `call`: the explicit path, output alone."""
    if kwargs.get("return_attention_scores"):
        return original(*args, **kwargs)
    output, _ = original(*args, **{**kwargs, "return_attention_scores": True})
    return output


def skipped_block(block: keras.layers.Layer):
    """An interceptor for `block`'s `call`: its input handed on in place of its tokens.

    The block still runs (its output's structure, e.g. DeiT's `(tokens, scores)`,
    is kept), but its tokens are replaced by its input, so nothing after the
    block depends on what the block computes.
    """

    def intercept(original, inputs, *args, **kwargs):
        output = original(inputs, *args, **kwargs)
        tokens = keras.tree.flatten(output)[0]
        if tuple(tokens.shape) != tuple(inputs.shape):
            raise ValueError(
                f"Layer '{block.name}' holds an attention but turns tokens of shape "
                f"{tuple(inputs.shape)} into {tuple(tokens.shape)}: an attention-pooling "
                "head (as SigLIP's), not a transformer block. LeGrad's form for "
                "attention pooling (the pooling's attention read at every block) is "
                "not implemented. Received: method='legrad'"
            )
        return keras.tree.map_structure(lambda t: inputs if t is tokens else t, output)

    return intercept
