"""The interface every backend probe implements, and the parts they share.

A probe answers one question for a model, one of its layers and a batch: the
layer's activations, the gradients of the target scores with respect to them,
and the model's outputs, all as numpy. Each backend compiles that computation
(or, for torch, runs it without building a graph up to the layer) and caches it
per target layout; the input shape is handled by the backend's own trace cache.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from ..capture import call_site, capture, on_input, on_output, without_remat
from ..layers import all_layers, final_activation

TOP = "top"
"""A target slot meaning "the model's top prediction, per image"."""

ID = "id"
"""A target slot holding a class id, given at call time."""

OUTPUT = "output"
"""Explain the model's output (post-softmax for a model ending in softmax)."""

LOGIT = "logit"
"""Explain the score before the model's last activation, e.g. the softmax's input."""

_UNKNOWN = object()


@dataclass(frozen=True)
class Similar:
    """A target slot: the class ranked `rank` (0 = highest) by the model's output,
    leaving out the class explained by slot `of` (an earlier slot): the classes
    most similar to a target, by the model's own prediction (Finer-CAM)."""

    of: int
    rank: int


@dataclass
class ProbeResult:
    """What a probe returns for a batch of N images and K targets.

    Attributes:
        activations: (N, h, w, C) the layer's output.
        gradients: (N, K, h, w, C) d score[n, k] / d activations[n].
        outputs: (N, ...) the model's output.
        targets: (N, K) int class id explained per slot, -1 for callable slots.
        scores: (N, K) the explained score per image and slot.
    """

    activations: np.ndarray
    gradients: np.ndarray
    outputs: Any
    targets: np.ndarray
    scores: np.ndarray


class Probe:
    """Runs a model to one layer's activations and the target scores' gradients.

    Subclasses implement `_compile` (activations, gradients, outputs) and
    `_compile_scores` (a forward pass only), each per score kind and layout.
    """

    def __init__(self, model: keras.Model, layer: keras.layers.Layer):
        self._model_ref = weakref.ref(model)
        self.layer = layer
        self._compiled: dict[tuple, Callable] = {}
        self._lock = threading.Lock()
        self._logit_site = _UNKNOWN
        # Layers built under keras.RematScope (the model itself is read per call:
        # the probe must not keep it alive).
        self._rematerialised = [layer for layer, _ in without_remat(all_layers(model))]

    @property
    def model(self) -> keras.Model:
        model = self._model_ref()
        if model is None:
            raise RuntimeError("The model of this probe has been garbage-collected.")
        return model

    def run(self, batch: np.ndarray, layout: Sequence, ids: np.ndarray, score: str = OUTPUT):
        """Activations, gradients and outputs for `batch` and the target slots in `layout`.

        Args:
            batch: (N, H, W, C) float32 input.
            layout: one entry per target slot: `ID`, `TOP` or a callable mapping
                the model output to one score per image, shape (N,).
            ids: (K,) int32 class ids, read for the `ID` slots only.
            score: `OUTPUT` to explain the model's output, `LOGIT` to explain the
                score before the model's last activation (e.g. softmax).
        """
        arrays = self._compiled_for("explain", score, layout, batch)(batch, ids)
        return ProbeResult(*(keras.tree.map_structure(_to_numpy, a) for a in arrays))

    def scores(self, batch: np.ndarray, layout: Sequence, ids: np.ndarray, score: str = OUTPUT):
        """Scores (N, K) of a forward pass only, for the slots in `layout` (no `TOP`)."""
        return _to_numpy(self._compiled_for("scores", score, layout, batch)(batch, ids))

    def _compiled_for(self, kind: str, score: str, layout: Sequence, batch: np.ndarray):
        key = (kind, score, tuple(layout))
        with self._lock:
            if score == LOGIT and self._logit_site is _UNKNOWN:
                self._logit_site = final_activation(self.model, batch.shape)
            compiled = self._compiled.get(key)
            if compiled is None:
                build = self._compile if kind == "explain" else self._compile_scores
                compiled = self._compiled[key] = build(score, tuple(layout))
        return compiled

    def _compile(self, score: str, layout: tuple) -> Callable:
        """A function of (batch, ids) returning the five arrays of `ProbeResult`."""
        raise NotImplementedError

    def _compile_scores(self, score: str, layout: tuple) -> Callable:
        """A function of (batch, ids) returning the (N, K) scores."""
        raise NotImplementedError

    def _forward(self, call: Callable[[], Any], on_activations, score: str = OUTPUT):
        """Run the model with its layers intercepted.

        Args:
            call: runs the model's forward pass, returns its output.
            on_activations: `None` to leave the explained layer alone, or a
                function given its output that returns what the model should see.
            score: `LOGIT` also records the input of the last activation.

        Returns:
            `(classes, outputs, activations)`: what the target scores are read
            from (the output, or the pre-activation scores), the model's output,
            and the layer's activations (`None` when not intercepted).
        """
        activations, logits = [], []
        interceptors = without_remat([self.model, *self._rematerialised])
        if on_activations is not None:
            interceptors[call_site(self.layer)] = on_output(
                self._checked_hook(on_activations, activations)
            )
        if score == LOGIT and self._logit_site is not None:
            interceptors[self._logit_site] = on_input(logits.append)
        with capture(interceptors):
            outputs = call()
        if on_activations is not None and not activations:
            raise ValueError(
                f"Layer '{self.layer.name}' did not run in the forward pass of model "
                f"'{self.model.name}'. Received: layer='{self.layer.name}'"
            )
        classes = logits[-1] if logits else outputs
        return classes, outputs, activations[0] if activations else None

    def _checked_hook(self, on_activations, captured: list):
        layer = self.layer

        def hook(output):
            if captured:
                raise ValueError(
                    f"Layer '{layer.name}' runs more than once in one forward pass "
                    "(a shared layer), so its activations are ambiguous. Choose a "
                    f"layer that runs once. Received: layer='{layer.name}'"
                )
            shape = getattr(output, "shape", None)
            if shape is None or len(shape) != 4:
                raise ValueError(
                    f"Layer '{layer.name}' has an output of shape {shape}; a class "
                    "activation map needs a layer with a 4-D (batch, height, width, "
                    f"channels) output. Received: layer='{layer.name}'"
                )
            output = on_activations(output)
            captured.append(output)
            return output

        return hook


def _to_numpy(tensor) -> np.ndarray:
    if hasattr(tensor, "detach"):  # torch tensors that require grad
        tensor = tensor.detach()
    return keras.ops.convert_to_numpy(tensor)


def target_scores(classes, outputs, ids, layout: tuple):
    """Scores (N, K) and explained class ids (N, K) for each target slot.

    Class ids index `classes` (the output, or the scores before the last
    activation); callables receive the model's `outputs`. Written with
    `keras.ops`, so it runs inside every backend's trace.
    """
    ops = keras.ops
    columns, explained = [], []
    for slot, kind in enumerate(layout):
        if callable(kind):
            column = ops.reshape(kind(outputs), (-1,))
            index = ops.full_like(column, -1, dtype="int32")
        elif isinstance(kind, Similar):
            table = _class_scores(classes)
            index = _similar_class(_class_scores(outputs), explained[kind.of], kind.rank)
            column = ops.take_along_axis(table, index[:, None], axis=1)[:, 0]
        else:
            table = _class_scores(classes)
            if kind == TOP:
                index = ops.cast(ops.argmax(_class_scores(outputs), axis=-1), "int32")
            else:
                index = ops.full((ops.shape(table)[0],), ids[slot], dtype="int32")
            column = ops.take_along_axis(table, index[:, None], axis=1)[:, 0]
        columns.append(column)
        explained.append(index)
    return ops.stack(columns, axis=1), ops.stack(explained, axis=1)


def _similar_class(table, excluded, rank: int):
    """(N,) the class ranked `rank` in each row of `table` (N, classes), `excluded` left out."""
    ops = keras.ops
    left_out = ops.one_hot(excluded, ops.shape(table)[1], dtype="bool")
    lowest = ops.min(table) - 1
    _, indices = ops.top_k(ops.where(left_out, lowest, table), rank + 1)
    return ops.cast(indices[:, rank], "int32")


def _class_scores(outputs):
    if isinstance(outputs, (list, tuple, dict)) or len(outputs.shape) != 2:
        raise ValueError(
            "Class ids as targets need a model with one output of shape "
            "(batch, classes). For other outputs pass a callable target that maps "
            "the output to one score per image. Received: output of type "
            f"{type(outputs).__name__}"
        )
    return outputs
