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

from .capture import capture

TOP = "top"
"""A target slot meaning "the model's top prediction, per image"."""

ID = "id"
"""A target slot holding a class id, given at call time."""


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

    Subclasses implement `_compile(layout)`, returning a function of
    `(batch, ids)` that gives the five arrays of `ProbeResult`.
    """

    def __init__(self, model: keras.Model, layer: keras.layers.Layer):
        self._model_ref = weakref.ref(model)
        self.layer = layer
        self._compiled: dict[tuple, Callable] = {}
        self._lock = threading.Lock()

    @property
    def model(self) -> keras.Model:
        model = self._model_ref()
        if model is None:
            raise RuntimeError("The model of this probe has been garbage-collected.")
        return model

    def run(self, batch: np.ndarray, layout: Sequence, ids: np.ndarray) -> ProbeResult:
        """Explain `batch` for the target slots in `layout`.

        Args:
            batch: (N, H, W, C) float32 input.
            layout: one entry per target slot: `ID`, `TOP` or a callable mapping
                the model output to one score per image, shape (N,).
            ids: (K,) int32 class ids, read for the `ID` slots only.
        """
        key = tuple(layout)
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is None:
                compiled = self._compiled[key] = self._compile(key)
        arrays = compiled(batch, ids)
        return ProbeResult(*(keras.tree.map_structure(_to_numpy, a) for a in arrays))

    def _compile(self, layout: tuple) -> Callable:
        raise NotImplementedError

    def _capture_hook(self, on_output: Callable[[Any], Any]) -> tuple[dict, list]:
        """A capture mapping for this probe's layer and the list it records into.

        `on_output` receives the layer's output and returns what the rest of the
        model sees. The layer must run exactly once per forward pass and give a
        4-D output.
        """
        captured: list = []
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
            output = on_output(output)
            captured.append(output)
            return output

        return {layer: hook}, captured

    def _forward(self, call: Callable[[], Any], on_output: Callable[[Any], Any]):
        """Run `call` with this probe's layer captured; return (output, activations)."""
        hooks, captured = self._capture_hook(on_output)
        with capture(hooks):
            outputs = call()
        if not captured:
            raise ValueError(
                f"Layer '{self.layer.name}' did not run in the forward pass of model "
                f"'{self.model.name}'. Received: layer='{self.layer.name}'"
            )
        return outputs, captured[0]


def _to_numpy(tensor) -> np.ndarray:
    if hasattr(tensor, "detach"):  # torch tensors that require grad
        tensor = tensor.detach()
    return keras.ops.convert_to_numpy(tensor)


def target_scores(outputs, ids, layout: tuple):
    """Scores (N, K) and explained class ids (N, K) for each target slot.

    Written with `keras.ops`, so it runs inside every backend's trace.
    """
    ops = keras.ops
    columns, explained = [], []
    for slot, kind in enumerate(layout):
        if callable(kind):
            column = ops.reshape(kind(outputs), (-1,))
            index = ops.full_like(column, -1, dtype="int32")
        else:
            classes = _class_scores(outputs)
            if kind == TOP:
                index = ops.cast(ops.argmax(classes, axis=-1), "int32")
            else:
                index = ops.full((ops.shape(classes)[0],), ids[slot], dtype="int32")
            column = ops.take_along_axis(classes, index[:, None], axis=1)[:, 0]
        columns.append(column)
        explained.append(index)
    return ops.stack(columns, axis=1), ops.stack(explained, axis=1)


def _class_scores(outputs):
    if isinstance(outputs, (list, tuple, dict)) or len(outputs.shape) != 2:
        raise ValueError(
            "Class ids as targets need a model with one output of shape "
            "(batch, classes). For other outputs pass a callable target that maps "
            "the output to one score per image. Received: output of type "
            f"{type(outputs).__name__}"
        )
    return outputs
