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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from ..model.capture import Site
from ..model.channels import is_channels_first, to_model_layout
from ..model.inspection import as_input_structure
from ..model.slots import inspect_inputs
from .batches import fed, padded, rows
from .forward import LayerWatch, channels_kept, relu_sites
from .plan import TargetPlan, check_logit_slots
from .scores import OUTPUT_AND_LOGIT, slot_scores

OUTPUT = "output"
"""Explain the model's output (post-softmax for a model ending in softmax)."""

LOGIT = "logit"
"""Explain the score before the model's last activation, e.g. the softmax's input."""

SCORES = (OUTPUT, LOGIT)
"""What `score=` may be."""

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
        logit_gradients: (N, K, *activations.shape[1:]) the gradients of the same
            slots' scores read before the model's last activation (the class
            logits), when `run` was asked for them; else `None`.
    """

    activations: np.ndarray
    gradients: np.ndarray
    outputs: Any
    targets: np.ndarray
    scores: np.ndarray
    logit_gradients: np.ndarray | None = None


class Probe:
    """Runs a model to one layer's activations and the target scores' gradients.

    Subclasses implement `compile(mode, score, slots)`, one compiled function
    per mode, score kind and target slots (never per class id, mask or
    callable: those are arguments), and `callable_terms` (a callable target's
    scores and their gradient with respect to the output, outside the trace).
    They run the model with `forward` (the layer watched) on `call_model`, and
    build the passes without a backward part with `forward_only`.
    """

    def __init__(self, model: keras.Model, layer: keras.layers.Layer, output_index: int = 0):
        self._model_ref = weakref.ref(model)
        self.layer = layer
        self.output_index = output_index
        self._compiled: dict[tuple, Callable] = {}
        self._lock = threading.Lock()
        self._logit_site = _UNKNOWN
        self._watch = LayerWatch(model, layer, output_index, is_channels_first(model))

    @property
    def model(self) -> keras.Model:
        model = self._model_ref()
        if model is None:
            raise RuntimeError("The model of this probe has been garbage-collected.")
        return model

    def intercept_also(self, interceptors) -> None:
        """Route these calls too (`camlens.model.capture`) in every pass of this probe."""
        self._watch.more_interceptors = dict(interceptors)

    def run(
        self,
        batch: np.ndarray,
        plan: TargetPlan,
        score: str = OUTPUT,
        gradients: bool = True,
        pad_to: int | None = None,
        logit_gradients: bool = False,
    ) -> ProbeResult:
        """Activations, gradients and outputs for `batch` and the targets of `plan`.

        Args:
            batch: (N, H, W, C) float32 input, channels last ((N, T, C) or
                (N, D, H, W, C) for 1-D and 3-D inputs); for a model with
                several inputs, `ModelInputs` (its constant inputs are passed
                as they are, never padded).
            plan: the targets, from `camlens.targets.plan_targets`.
            score: `OUTPUT` to explain the model's output, `LOGIT` to explain the
                score before the model's last activation (e.g. softmax).
            gradients: `False` skips the backward pass (`ProbeResult.gradients`
                is then `None`), for methods that use none.
            pad_to: run the computation on a batch repeated up to this size (the
                shape it was compiled for) and return the first N rows only.
            logit_gradients: also return the gradients of the class logits
                (`ProbeResult.logit_gradients`; class slots only), from the same
                forward pass: with `LOGIT` they are the gradients, with `OUTPUT`
                a second backward pass (CRAFT's importance for the audit's
                concepts, beside maps of the output).

        A callable target costs one more forward pass when gradients are taken:
        the callable runs outside the compiled function, on its outputs, and its
        gradient with respect to them enters the compiled backward pass.
        """
        count = rows(batch)
        batch, plan = padded(batch, plan, pad_to)
        extras, values = plan.masks, {}
        callables = [k for k, function in enumerate(plan.callables) if function is not None]
        if logit_gradients:
            check_logit_slots(plan, gradients)
        if gradients:
            extras, values = self._callable_extras(batch, plan, score)
        mode = "gradients" if gradients else "activations"
        fused = logit_gradients and score == OUTPUT
        compiled = self._compiled_for(mode, OUTPUT_AND_LOGIT if fused else score, plan.slots, batch)
        arrays = compiled(fed(batch), plan.ids, extras)
        if not gradients:
            arrays = arrays[:1] + (None,) + arrays[1:]
        activations, grads, outputs, targets, scores = arrays
        logits = grads if logit_gradients else None
        if fused:  # the second group of slots: the same scores before the last activation
            slots = len(plan.slots)
            grads, logits = grads[:, :slots], grads[:, slots:]
            targets, scores = targets[:, :slots], scores[:, :slots]
        for k in callables:
            if k not in values:
                values[k] = self._callable_values(
                    plan.callables[k], _slot_output(outputs, plan.slots[k])
                )
        scores = _to_numpy(scores).copy()
        for k, value in values.items():
            scores[:, k] = value
        result = ProbeResult(
            activations=_to_numpy(activations)[:count],
            # None for a method without gradients (registry `gradients=False`), which reads none
            gradients=None if grads is None else _to_numpy(grads)[:count],  # type: ignore[arg-type]
            outputs=keras.tree.map_structure(lambda a: _to_numpy(a)[:count], outputs),
            targets=_to_numpy(targets)[:count],
            scores=scores[:count],
            logit_gradients=None if logits is None else _to_numpy(logits)[:count],
        )
        return result

    def outputs(self, batch: np.ndarray):
        """The model's outputs for `batch`, as numpy: one compiled forward pass
        (the layer is not intercepted)."""
        compiled = self._compiled_for("outputs", OUTPUT, (), batch)
        return keras.tree.map_structure(
            _to_numpy, compiled(batch, np.zeros((rows(batch), 0), np.int32), ())
        )

    def scores(self, batch: np.ndarray, plan: TargetPlan, score: str = OUTPUT) -> np.ndarray:
        """Scores (N, K) of a forward pass only, for the targets of `plan`."""
        compiled = self._compiled_for("scores", score, plan.slots, batch)
        return self._checked_forward_scores(compiled(fed(batch), plan.ids, plan.masks), plan)

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
        arrays = compiled(fed(batch), plan.ids, (plan.masks, keep))
        return self._checked_forward_scores(arrays, plan)

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
        batch, plan = padded(batch, plan, pad_to)
        compiled = self._compiled_for("hessian", score, plan.slots, batch)
        return _to_numpy(compiled(fed(batch), plan.ids, plan.masks))[:count]

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
        batch, plan = padded(batch, plan, pad_to)
        extras, _ = self._callable_extras(batch, plan, score)
        compiled = self._compiled_for("guided", score, plan.slots, batch)
        return _to_numpy(compiled(fed(batch), plan.ids, extras))[:count]

    def site_gradients(
        self,
        batch: np.ndarray,
        plan: TargetPlan,
        sites: tuple[Site, ...],
        score: str = OUTPUT,
        pad_to: int | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """The target scores' gradients at the input and at every one of `sites`,
        from one forward pass and one backward pass per target slot (FullGrad's
        bias gradients; the explained layer is not watched).

        Returns:
            `(input_gradients, gradients, values)`: (N, K, *input) with respect
            to the input; per site, (N, K, *value) the gradients and (N, *value)
            the value there (float32, a channels_first model's grids channels-last).
        """
        count = rows(batch)
        batch, plan = padded(batch, plan, pad_to)
        extras, _ = self._callable_extras(batch, plan, score)
        compiled = self._compiled_for(("sites", tuple(sites)), score, plan.slots, batch)
        inputs, gradients, values = compiled(fed(batch), plan.ids, extras)
        gradients = [_to_numpy(g)[:count] for g in gradients]
        return _to_numpy(inputs)[:count], gradients, [_to_numpy(v)[:count] for v in values]

    def _callable_extras(self, batch: np.ndarray, plan: TargetPlan, score: str):
        """`(extras, values)` for a pass with a backward part: per slot, the mask
        or a callable's gradient with respect to the outputs (one forward pass
        when there are callables), and the callables' (N,) scores by slot."""
        extras, values = list(plan.masks), {}
        callables = [k for k, function in enumerate(plan.callables) if function is not None]
        if callables:
            _, _, outputs = self._compiled_for("scores", score, plan.slots, batch)(
                fed(batch), plan.ids, tuple(extras)
            )
            for k in callables:
                slot_output = _slot_output(outputs, plan.slots[k])
                value, extras[k] = self.callable_terms(plan.callables[k], slot_output)
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

    def _compiled_for(self, mode: str | tuple, score: str, slots: tuple, batch):
        key = (mode, score, slots)
        with self._lock:
            if score in (LOGIT, OUTPUT_AND_LOGIT) and self._logit_site is _UNKNOWN:
                self._logit_site = inspect_inputs(self.model, batch).logit_site()
            compiled = self._compiled.get(key)
            if compiled is None:
                compiled = self._compiled[key] = self.compile(mode, score, slots)
        return compiled

    def compile(self, mode: str | tuple, score: str, slots: tuple) -> Callable:
        """A function of (batch, ids, extras) for `slot_scores`, returning, by mode:

        - `"gradients"`: activations, gradients, outputs, targets, scores;
        - `"activations"`: activations, outputs, targets, scores (no backward pass);
        - `"scores"`: scores, targets, outputs (the layer is not intercepted);
        - `"outputs"`: the outputs alone (the layer is not intercepted);
        - `"ablated"`: as `"scores"`, with the layer's output multiplied by a
          channel mask (N, C); `extras` is then `(slot extras, mask)`;
        - `"hessian"`: (N, K, *layer output) Hessian products, see
          `hessian_products`;
        - `"guided"`: (N, K, *input) guided gradients, see `guided_gradients`;
        - `("sites", sites)`: gradients at the input and at each site, and the
          values there, see `site_gradients`.
        """
        raise NotImplementedError

    def callable_terms(self, function: Callable, outputs) -> tuple[Any, Any]:
        """`function(outputs)`, and the gradient of its sum with respect to `outputs`."""
        raise NotImplementedError

    @staticmethod
    def _callable_values(function: Callable, outputs) -> np.ndarray:
        """A callable target's (N,) scores on `outputs`, checked."""
        outputs = keras.tree.map_structure(keras.ops.convert_to_tensor, outputs)
        count = int(keras.tree.flatten(outputs)[0].shape[0])
        return _checked_scores(function(outputs), count, function)

    @staticmethod
    def forward_only(mode: str, slots: tuple, forward: Callable, ids, extras):
        """The arrays of the modes without a backward pass (see `compile`).

        Args:
            forward: `forward(on_activations)` runs `Probe.forward` the backend's way.
        """
        watch = None
        if mode == "activations":
            watch = lambda activations: activations  # noqa: E731
        elif mode == "ablated":
            extras, keep = extras
            watch = channels_kept(keep)
        classes, outputs, activations = forward(watch)
        if mode == "outputs":
            return outputs
        scores, targets = slot_scores(slots, classes, outputs, ids, extras)
        if mode == "activations":
            return activations, outputs, targets, scores
        return scores, targets, outputs

    def call_model(self, batch):
        """The model's output for a channels-last `batch`, in inference mode.

        A channels_first model is given the batch in its own layout."""
        if self._watch.channels_first:  # one input: multi-input ones are refused
            self._watch.input_rank = len(batch.shape)
            batch = to_model_layout(batch)
        return self.model(as_input_structure(self.model, batch), training=False)

    def forward(
        self, call: Callable[[], Any], on_activations, score: str = OUTPUT, gate=None, **sites
    ):
        """Run the model (`call()`) with the layer watched: see `LayerWatch.forward`
        (`sites`: its `sites` and `on_site`).

        Returns:
            `(classes, outputs, activations)`: what the target scores are read
            from (the output, or with `score=LOGIT` the scores before the last
            activation), the model's output, and the layer's activations.
        """
        site = self._logit_site if score in (LOGIT, OUTPUT_AND_LOGIT) else None
        return self._watch.forward(self.model, call, on_activations, site, gate, **sites)


def _to_numpy(tensor) -> np.ndarray:
    if hasattr(tensor, "detach"):  # torch: detached, to the CPU, bfloat16 widened (Keras's way)
        return keras.ops.convert_to_numpy(tensor.detach())
    return np.asarray(tensor)  # TensorFlow and JAX arrays convert themselves, without a copy


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
