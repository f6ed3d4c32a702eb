"""The target scores, written with `keras.ops` so that they run inside every
backend's compiled function (see `camlens.probe.plan` for the slots)."""

from __future__ import annotations

import keras

from .plan import CALLABLE, COSINE, DETECTION, ID, REGION, SIMILAR

OUTPUT_AND_LOGIT = "output+logit"
"""The probe's own score kind for `Probe.run(logit_gradients=True)` explaining the
output: one forward pass, the slots' scores read from the output, then the same
slots read before the last activation, a second group of slots with its own
backward pass."""


def gradient_scores(score: str, slots: tuple, classes, outputs, ids, extras: tuple):
    """`slot_scores` of a pass with a backward part; for `OUTPUT_AND_LOGIT`, (N, 2K)
    scores and class ids: the slots read from the output, then from `classes`
    (the scores before the last activation)."""
    if score != OUTPUT_AND_LOGIT:
        return slot_scores(slots, classes, outputs, ids, extras)
    scores, targets = slot_scores(slots, outputs, outputs, ids, extras)
    logits, logit_targets = slot_scores(slots, classes, outputs, ids, extras)
    ops = keras.ops
    return ops.concatenate([scores, logits], 1), ops.concatenate([targets, logit_targets], 1)


def slot_scores(slots: tuple, classes, outputs, ids, extras: tuple):
    """Scores (N, K) float32 and explained class ids (N, K) int32 per slot.

    Written with `keras.ops`, so it runs inside every backend's trace.

    Args:
        slots: (K,) `Slot`s.
        classes: what class ids index on a single-output model: the output, or
            the scores before its last activation (`score="logit"`).
        outputs: the model's outputs.
        ids: (N, K) int32 class ids.
        extras: per slot, the (N, *spatial) mask of a masked region, the
            (N,) rows of a detection slot, the (N, dim) reference vectors of
            a cosine similarity, the cotangent of a callable's score with
            respect to its output (the slot's score is then the linearisation
            whose gradient is the callable's; the value comes from the
            callable itself), or `None`.
    """
    ops = keras.ops
    flat = keras.tree.flatten(outputs)
    columns: list = []
    explained: list = []
    only = flat[0] if len(flat) == 1 else outputs  # a single output, even in a dict
    for k, slot in enumerate(slots):
        if slot.output is not None:
            output = table = flat[slot.output]
        else:
            output = outputs if slot.kind == CALLABLE else only
            table = keras.tree.flatten(classes)[0] if len(flat) == 1 else classes
        if slot.kind == CALLABLE:
            column = _linearized(output, extras[k])
            index = ops.full_like(column, -1, dtype="int32")
        elif slot.kind == DETECTION:
            index = ids[:, k]
            column = _detection_score(ops.cast(output, "float32"), extras[k], index)
        elif slot.kind == COSINE:
            column = _cosine(_embedding(ops.cast(output, "float32"), slot), extras[k])
            index = ops.full_like(column, -1, dtype="int32")
        elif slot.kind == REGION:
            index = ids[:, k]
            column = _region_score(
                ops.cast(table, "float32"), output, index, extras[k], slot.reduce
            )
        else:
            if slot.kind == SIMILAR:
                index = _similar_class(output, explained[slot.of], slot.rank)
            elif slot.kind == ID:
                index = ids[:, k]
            else:
                index = ops.cast(ops.argmax(output, axis=-1), "int32")
            scores = ops.cast(table, "float32")
            column = ops.sum(scores * ops.one_hot(index, ops.shape(scores)[-1]), axis=-1)
        columns.append(ops.cast(column, "float32"))
        explained.append(ops.cast(index, "int32"))
    return ops.stack(columns, axis=1), ops.stack(explained, axis=1)


def _embedding(output, slot):
    """(N, dim) the embedding of an output (N, dim), or pooled from tokens (N, T, dim)."""
    if slot.pool is None:
        return output
    if slot.pool == "class":
        return output[:, 0]
    return keras.ops.mean(output[:, slot.first :], axis=1)


def _cosine(embedding, reference):
    """(N,) the cosine similarity of each row of `embedding` with `reference` (N, dim)."""
    ops = keras.ops
    reference = ops.cast(reference, "float32")
    dot = ops.sum(embedding * reference, axis=-1)
    norms = ops.sqrt(
        ops.sum(ops.square(embedding), axis=-1) * ops.sum(ops.square(reference), axis=-1)
    )
    return dot / ops.maximum(norms, 1e-30)


def _similar_class(table, excluded, rank: int):
    """(N,) the class ranked `rank` in each row of `table` (N, classes), `excluded` left out."""
    ops = keras.ops
    left_out = ops.one_hot(excluded, ops.shape(table)[1], dtype="bool")
    lowest = ops.min(table) - 1
    _, indices = ops.top_k(ops.where(left_out, lowest, table), rank + 1)
    return ops.cast(indices[:, rank], "int32")


def _detection_score(table, rows, index):
    """table[n, rows[n], index[n]]: one prediction's class score, table (N, R, classes)."""
    ops = keras.ops
    row = ops.one_hot(ops.cast(rows, "int32"), ops.shape(table)[1], dtype="float32")
    scores = ops.sum(table * row[:, :, None], axis=1)
    return ops.sum(scores * ops.one_hot(index, ops.shape(table)[2], dtype="float32"), axis=-1)


def _region_score(scores, output, index, mask, reduce: str):
    """The sum or mean over the region of scores[..., index]: scores (N, ..., C), index (N,)."""
    ops = keras.ops
    rank = len(scores.shape)
    pick = ops.one_hot(index, scores.shape[-1], dtype="float32")
    channel = ops.sum(
        scores * ops.reshape(pick, (-1,) + (1,) * (rank - 2) + (scores.shape[-1],)), -1
    )
    if mask is None:
        predicted = ops.argmax(output, axis=-1)
        mask = ops.cast(
            ops.equal(
                predicted, ops.reshape(ops.cast(index, predicted.dtype), (-1,) + (1,) * (rank - 2))
            ),
            "float32",
        )
    mask = ops.cast(mask, "float32")
    spatial = tuple(range(1, rank - 1))
    total = ops.sum(channel * mask, axis=spatial)
    if reduce == "sum":
        return total
    return total / ops.maximum(ops.sum(mask, axis=spatial), 1.0)


def _linearized(output, cotangent):
    """sum(output * cotangent) per image: its gradient is the callable score's."""
    ops = keras.ops
    leaves = keras.tree.flatten(output)
    if cotangent is None:  # a forward pass only: the value comes from the callable
        return ops.zeros((ops.shape(leaves[0])[0],), "float32")
    total = 0.0
    for leaf, weight in zip(leaves, keras.tree.flatten(cotangent)):
        product = ops.cast(leaf, "float32") * ops.cast(weight, "float32")
        total = total + ops.sum(ops.reshape(product, (ops.shape(product)[0], -1)), axis=1)
    return total
