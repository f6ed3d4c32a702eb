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

from ..capture import call_site, capture, on_output, without_remat
from ..channels import is_channels_first, to_model_layout
from ..inspection import all_layers, inspect
from ..targets import TargetPlan, slot_scores

OUTPUT = "output"
"""Explain the model's output (post-softmax for a model ending in softmax)."""

LOGIT = "logit"
"""Explain the score before the model's last activation, e.g. the softmax's input."""

HALF_DTYPES = ("float16", "bfloat16")
"""Activations of these dtypes (mixed-precision models) are watched in float32."""

_UNKNOWN = object()


@dataclass
class ProbeResult:
    """What a probe returns for a batch of N images and K targets.

    Attributes:
        activations: (N, h, w, C) the layer's output ((N, T, C) tokens, and
            (N, t, C) or (N, d, h, w, C) for 1-D and 3-D inputs).
        gradients: (N, K, *activations.shape[1:]) d score[n, k] / d activations[n]; `None`
            when the method needs no gradients.
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

    Subclasses implement `_compile(mode, score, slots)`, one compiled function
    per mode, score kind and target slots (never per class id, mask or
    callable: those are arguments), and `_callable_terms` (a callable target's
    scores and their gradient with respect to the output, outside the trace).
    """

    def __init__(self, model: keras.Model, layer: keras.layers.Layer, output_index: int = 0):
        self._model_ref = weakref.ref(model)
        self.layer = layer
        self.output_index = output_index
        self._compiled: dict[tuple, Callable] = {}
        self._lock = threading.Lock()
        self._logit_site = _UNKNOWN
        self._channels_first = is_channels_first(model)
        self._input_rank = None  # known from the first batch the model is called on
        # Layers built under keras.RematScope (the model itself is read per call:
        # the probe must not keep it alive).
        self._rematerialised = [layer for layer, _ in without_remat(all_layers(model))]

    @property
    def model(self) -> keras.Model:
        model = self._model_ref()
        if model is None:
            raise RuntimeError("The model of this probe has been garbage-collected.")
        return model

    def run(
        self,
        batch: np.ndarray,
        plan: TargetPlan,
        score: str = OUTPUT,
        gradients: bool = True,
        pad_to: int | None = None,
    ) -> ProbeResult:
        """Activations, gradients and outputs for `batch` and the targets of `plan`.

        Args:
            batch: (N, H, W, C) float32 input, channels last ((N, T, C) or
                (N, D, H, W, C) for 1-D and 3-D inputs); for a model with
                several inputs, a list or dict of its inputs' arrays.
            plan: the targets, from `camlens.targets.plan_targets`.
            score: `OUTPUT` to explain the model's output, `LOGIT` to explain the
                score before the model's last activation (e.g. softmax).
            gradients: `False` skips the backward pass (`ProbeResult.gradients`
                is then `None`), for methods that use none.
            pad_to: run the computation on a batch repeated up to this size (the
                shape it was compiled for) and return the first N rows only.

        A callable target costs one more forward pass when gradients are taken:
        the callable runs outside the compiled function, on its outputs, and its
        gradient with respect to them enters the compiled backward pass.
        """
        count = rows(batch)
        batch, plan = _padded(batch, plan, pad_to)
        extras, values = plan.masks, {}
        callables = [k for k, function in enumerate(plan.callables) if function is not None]
        if gradients:
            extras, values = self._callable_extras(batch, plan, score)
        mode = "gradients" if gradients else "activations"
        arrays = self._compiled_for(mode, score, plan.slots, batch)(batch, plan.ids, extras)
        if not gradients:
            arrays = arrays[:1] + (None,) + arrays[1:]
        activations, grads, outputs, targets, scores = arrays
        for k in callables:
            if k not in values:
                values[k] = self._callable_values(plan.callables[k], _slot_output(outputs, plan.slots[k]))
        scores = _to_numpy(scores).copy()
        for k, value in values.items():
            scores[:, k] = value
        result = ProbeResult(
            activations=_to_numpy(activations)[:count],
            gradients=None if grads is None else _to_numpy(grads)[:count],
            outputs=keras.tree.map_structure(lambda a: _to_numpy(a)[:count], outputs),
            targets=_to_numpy(targets)[:count],
            scores=scores[:count],
        )
        return result

    def scores(self, batch: np.ndarray, plan: TargetPlan, score: str = OUTPUT) -> np.ndarray:
        """Scores (N, K) of a forward pass only, for the targets of `plan`."""
        compiled = self._compiled_for("scores", score, plan.slots, batch)
        return self._checked_forward_scores(compiled(batch, plan.ids, plan.masks), plan)

    def ablated_scores(
        self, batch: np.ndarray, plan: TargetPlan, keep: np.ndarray, score: str = OUTPUT
    ) -> np.ndarray:
        """Scores (N, K) with the layer's channels multiplied by `keep` in the forward pass.

        Args:
            batch: (N, H, W, C) inputs, e.g. one image repeated.
            keep: (N, channels) float32, 1 keeps a channel of the layer's output
                (its last axis: a grid's or a token sequence's), 0 zeroes it;
                input n runs with row n (Ablation-CAM).
        """
        compiled = self._compiled_for("ablated", score, plan.slots, batch)
        keep = np.asarray(keep, np.float32)
        return self._checked_forward_scores(compiled(batch, plan.ids, (plan.masks, keep)), plan)

    def hessian_products(
        self, batch: np.ndarray, plan: TargetPlan, score: str = OUTPUT, pad_to: int | None = None
    ) -> np.ndarray:
        """(N, K, *layer output) the Hessian of each target score with respect to
        the layer's activations A, times A: sum_j A_j d^2 y / dA_i dA_j
        (Shapley-CAM), in the layer's own shape ((N, K, T, C) for tokens).

        Callable targets are refused: the probe differentiates a callable once,
        outside the compiled function, so its second derivative is not there.
        """
        if any(function is not None for function in plan.callables):
            raise ValueError(
                "Hessian products (Shapley-CAM) need targets the probe can "
                "differentiate twice: class ids, Class, Region or Output, not a "
                "callable. Received: a callable in targets"
            )
        count = rows(batch)
        batch, plan = _padded(batch, plan, pad_to)
        compiled = self._compiled_for("hessian", score, plan.slots, batch)
        return _to_numpy(compiled(batch, plan.ids, plan.masks))[:count]

    def guided_gradients(
        self, batch: np.ndarray, plan: TargetPlan, score: str = OUTPUT, pad_to: int | None = None
    ) -> np.ndarray:
        """(N, K, H, W, c) guided backpropagation (Springenberg et al. 2015).

        The gradients of the target scores with respect to the input, every
        ReLU passing back only positive gradients. The model is not changed: the
        ReLUs' outputs go through an identity whose gradient is max(g, 0), in
        this forward pass only (through the capture).
        """
        if not relu_sites(self.model):
            raise ValueError(
                f"Guided backpropagation needs ReLU activations; model '{self.model.name}' "
                "has none (ReLU layers, or layers with activation='relu'). "
                "Received: method='guided-gradcam'"
            )
        count = rows(batch)
        batch, plan = _padded(batch, plan, pad_to)
        extras, _ = self._callable_extras(batch, plan, score)
        compiled = self._compiled_for("guided", score, plan.slots, batch)
        return _to_numpy(compiled(batch, plan.ids, extras))[:count]

    def _callable_extras(self, batch: np.ndarray, plan: TargetPlan, score: str):
        """`(extras, values)` for a pass with a backward part: per slot, the mask
        or a callable's gradient with respect to the outputs (one forward pass
        when there are callables), and the callables' (N,) scores by slot."""
        extras, values = list(plan.masks), {}
        callables = [k for k, function in enumerate(plan.callables) if function is not None]
        if callables:
            _, _, outputs = self._compiled_for("scores", score, plan.slots, batch)(
                batch, plan.ids, tuple(extras)
            )
            for k in callables:
                slot_output = _slot_output(outputs, plan.slots[k])
                value, extras[k] = self._callable_terms(plan.callables[k], slot_output)
                values[k] = _checked_scores(value, rows(batch), plan.callables[k])
        return tuple(extras), values

    def _checked_forward_scores(self, arrays, plan: TargetPlan) -> np.ndarray:
        """The (N, K) scores of a `"scores"` or `"ablated"` pass, callable targets filled in."""
        scores, _, outputs = arrays
        scores = _to_numpy(scores).copy()
        for k, function in enumerate(plan.callables):
            if function is not None:
                scores[:, k] = self._callable_values(function, _slot_output(outputs, plan.slots[k]))
        return scores

    def _compiled_for(self, mode: str, score: str, slots: tuple, batch: np.ndarray):
        key = (mode, score, slots)
        with self._lock:
            if score == LOGIT and self._logit_site is _UNKNOWN:
                shapes = input_shapes(batch)
                inspection = (inspect(self.model, None, call_shapes=shapes)
                              if isinstance(shapes, (list, dict)) else inspect(self.model, shapes))
                self._logit_site = inspection.logit_site()
            compiled = self._compiled.get(key)
            if compiled is None:
                compiled = self._compiled[key] = self._compile(mode, score, slots)
        return compiled

    def _compile(self, mode: str, score: str, slots: tuple) -> Callable:
        """A function of (batch, ids, extras) for `slot_scores`, returning, by mode:

        - `"gradients"`: activations, gradients, outputs, targets, scores;
        - `"activations"`: activations, outputs, targets, scores (no backward pass);
        - `"scores"`: scores, targets, outputs (the layer is not intercepted);
        - `"ablated"`: as `"scores"`, with the layer's output multiplied by a
          channel mask (N, C); `extras` is then `(slot extras, mask)`;
        - `"hessian"`: (N, K, *layer output) Hessian products, see
          `hessian_products`;
        - `"guided"`: (N, K, *input) guided gradients, see `guided_gradients`.
        """
        raise NotImplementedError

    def _callable_terms(self, function: Callable, outputs) -> tuple[Any, Any]:
        """`function(outputs)`, and the gradient of its sum with respect to `outputs`."""
        raise NotImplementedError

    @staticmethod
    def _callable_values(function: Callable, outputs) -> np.ndarray:
        """A callable target's (N,) scores on `outputs`, checked."""
        outputs = keras.tree.map_structure(keras.ops.convert_to_tensor, outputs)
        count = int(keras.tree.flatten(outputs)[0].shape[0])
        return _checked_scores(function(outputs), count, function)

    @staticmethod
    def _forward_only(mode: str, slots: tuple, forward: Callable, ids, extras):
        """The arrays of the modes without a backward pass (see `_compile`).

        Args:
            forward: `forward(on_activations)` runs `_forward` the backend's way.
        """
        watch = None
        if mode == "activations":
            watch = lambda activations: activations  # noqa: E731
        elif mode == "ablated":
            extras, keep = extras
            watch = _channels_kept(keep)
        classes, outputs, activations = forward(watch)
        scores, targets = slot_scores(slots, classes, outputs, ids, extras)
        if mode == "activations":
            return activations, outputs, targets, scores
        return scores, targets, outputs

    def _call(self, batch):
        """The model's output for a channels-last `batch`, in inference mode.

        A channels_first model is given the batch in its own layout."""
        if self._channels_first:  # one input: multi-input ones are refused
            self._input_rank = len(batch.shape)
            batch = to_model_layout(batch)
        return self.model(batch, training=False)

    def _forward(self, call: Callable[[], Any], on_activations, score: str = OUTPUT, gate=None):
        """Run the model with its layers intercepted.

        Args:
            call: runs the model's forward pass, returns its output.
            on_activations: `None` to leave the explained layer alone, or a
                function given its output that returns what the model should see.
            score: `LOGIT` also records the input of the last activation.
            gate: `None`, or a function every ReLU's output passes through
                (guided backpropagation).

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
        if gate is not None:
            interceptors.update({site: on_output(gate) for site in relu_sites(self.model)})
        site = self._logit_site if score == LOGIT else None
        if site is not None:
            interceptors[(site.target, site.attribute)] = _logit_recorder(logits)
        with capture(interceptors):
            outputs = call()
        if on_activations is not None and not activations:
            raise ValueError(
                f"Layer '{self.layer.name}' did not run in the forward pass of model "
                f"'{self.model.name}'. Received: layer='{self.layer.name}'"
            )
        classes = _logit_of(logits, outputs, site) if site is not None else outputs
        return classes, outputs, activations[0] if activations else None

    def _checked_hook(self, on_activations, captured: list):
        layer, index = self.layer, self.output_index

        def hook(output):
            if captured:
                raise ValueError(
                    f"Layer '{layer.name}' runs more than once in one forward pass "
                    "(a shared layer), so its activations are ambiguous. Choose a "
                    f"layer that runs once. Received: layer='{layer.name}'"
                )
            tensors = keras.tree.flatten(output)
            chosen = tensors[index] if -len(tensors) <= index < len(tensors) else None
            shape = getattr(chosen, "shape", None)
            if shape is None or len(shape) not in (3, 4, 5):
                raise ValueError(
                    f"Layer '{layer.name}' has an output of shape {shape}; a class "
                    "activation map needs a layer with a 4-D (batch, height, width, "
                    "channels) output or a 3-D (batch, tokens, channels) one (for "
                    "1-D and 3-D inputs: (batch, steps, channels) or (batch, depth, "
                    f"height, width, channels)). Received: layer='{layer.name}'"
                )
            # Mixed precision: the activations are watched, and their gradients
            # taken, in float32; the rest of the model sees its own dtype. A
            # channels_first grid is watched with its channels last.
            half = keras.backend.standardize_dtype(chosen.dtype) in HALF_DTYPES
            moved = self._channels_first and len(shape) == self._input_rank
            view = keras.ops.moveaxis(chosen, 1, -1) if moved else chosen
            watched = on_activations(keras.ops.cast(view, "float32") if half else view)
            captured.append(watched)
            back = keras.ops.cast(watched, chosen.dtype) if half else watched
            tensors[index] = to_model_layout(back) if moved else back
            return keras.tree.pack_sequence_as(output, tensors)

        return hook


def relu_sites(model: keras.Model) -> list[tuple]:
    """`(object, attribute)` of every ReLU of `model`: the call of ReLU layers, the
    `activation` of layers (Conv, Dense, Activation) whose activation is relu."""
    relus = (keras.activations.relu, keras.ops.relu)
    sites = []
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.ReLU):
            sites.append(call_site(layer))
        elif getattr(layer, "activation", None) in relus:
            sites.append((layer, "activation"))
    return sites


def rows(batch) -> int:
    """How many rows a batch holds: an array's, or a multi-input structure's."""
    return len(keras.tree.flatten(batch)[0])


def input_shapes(batch):
    """The shape of a batch's array; for a multi-input structure, the same list
    or dict of its arrays' shapes."""
    if isinstance(batch, dict):
        return {key: tuple(array.shape) for key, array in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [tuple(array.shape) for array in batch]
    return tuple(batch.shape)


def _padded(batch, plan: TargetPlan, pad_to: int | None):
    """The batch (each of its inputs) and plan repeated up to `pad_to` images
    (the last one repeated)."""
    count = rows(batch)
    if pad_to is None or pad_to <= count:
        return batch, plan
    index = np.minimum(np.arange(pad_to), count - 1)
    return keras.tree.map_structure(lambda array: array[index], batch), plan.padded(pad_to)


def _channels_kept(keep):
    """An `on_activations` hook: the layer's output (N, ..., C) times `keep` (N, C)."""

    def hook(activations):
        shape = (-1,) + (1,) * (len(activations.shape) - 2) + (activations.shape[-1],)
        return activations * keras.ops.cast(keras.ops.reshape(keep, shape), activations.dtype)

    return hook


def _logit_recorder(logits: list):
    """An interceptor keeping each call's (first argument, result)."""

    def intercept(original, first, *args, **kwargs):
        result = original(first, *args, **kwargs)
        logits.append((first, result))
        return result

    return intercept


def _logit_of(logits: list, outputs, site):
    """The pre-activation scores: the input of the activation whose result is the output."""
    if not site.by_output and logits:
        return logits[-1][0]
    for scores, result in reversed(logits):
        if result is outputs:
            return scores
    raise ValueError(
        "score='logit': the model's last activation did not produce its output in "
        "this forward pass, so the score before it cannot be read. Pass "
        "score='output'. Received: score='logit'"
    )


def _to_numpy(tensor) -> np.ndarray:
    if hasattr(tensor, "detach"):  # torch tensors that require grad
        tensor = tensor.detach()
    return keras.ops.convert_to_numpy(tensor)


def _checked_scores(values, count: int, function: Callable) -> np.ndarray:
    """A callable target's result as (N,) float32; a ValueError naming `targets` otherwise."""
    values = _to_numpy(values)
    if values.size != count:
        raise ValueError(
            "A callable target must return one score per image, shape (N,) with "
            f"N={count}. Received: a result of shape {values.shape} from targets={function!r}"
        )
    return values.reshape(count).astype(np.float32)


def _slot_output(outputs, slot):
    return outputs if slot.output is None else keras.tree.flatten(outputs)[slot.output]
