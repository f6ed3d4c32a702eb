"""The forward-pass interception: the explained layer's output read, and given
back changed where a pass needs it, during the model's ordinary call.

`LayerWatch.forward` runs a model with the explained layer's `call` shadowed
(see `camlens.model.capture`), and with the model's last activation recorded for
`score="logit"`, every ReLU gated for guided backpropagation, or the values at a
list of `Site`s handed to the probe (to differentiate at all of them in one
backward pass: FullGrad's biased values). The model is left exactly as it was,
also when an error is raised half way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from ..model.capture import Site, capture, on_output
from ..model.channels import to_model_layout
from ..model.keras_internals import all_layers, call_site, without_remat

HALF_DTYPES = ("float16", "bfloat16")
"""Activations of these dtypes (mixed-precision models) are watched in float32."""


class LayerWatch:
    """Watches one layer's output during a model's forward passes.

    Args:
        model: the model (not kept: read per call).
        layer: the layer watched.
        output_index: which tensor of the layer's output is watched.
        channels_first: whether the model is channels_first (its grids are
            watched with their channels last).

    Attributes:
        input_rank: the rank of the batch the model was last called on, set by
            the probe before each call (a grid of that rank is moved to
            channels-last).
    """

    def __init__(self, model: keras.Model, layer, output_index: int, channels_first: bool):
        self.layer = layer
        self.output_index = output_index
        self.channels_first = channels_first
        self.input_rank = None
        self.more_interceptors: dict = {}
        """More calls routed in every forward pass (`Probe.intercept_also`)."""
        # Layers built under keras.RematScope (the model itself is read per call:
        # the watch must not keep it alive).
        self.rematerialised = [layer for layer, _ in without_remat(all_layers(model))]

    def forward(
        self,
        model: keras.Model,
        call: Callable[[], Any],
        on_activations,
        logit_site=None,
        gate=None,
        sites: tuple[Site, ...] = (),
        on_site=None,
    ):
        """Run the model with its layers intercepted.

        Args:
            call: runs the model's forward pass, returns its output.
            on_activations: `None` to leave the explained layer alone, or a
                function given its output that returns what the model should see.
            logit_site: `None`, or where to record the input of the last
                activation (`Inspection.logit_site()`, for `score="logit"`).
            gate: `None`, or a function every ReLU's output passes through
                (guided backpropagation).
            sites, on_site: values to watch, and `on_site(index, value)`, given
                the value at `sites[index]` (channels-last, float32), returning
                what the model should see. Each site must run exactly once.

        Returns:
            `(classes, outputs, activations)`: what the target scores are read
            from (the output, or the pre-activation scores), the model's output,
            and the layer's activations (`None` when not intercepted).
        """
        activations: list = []
        logits: list = []
        interceptors = without_remat([model, *self.rematerialised])
        interceptors.update(self.more_interceptors)
        if on_activations is not None:
            interceptors[call_site(self.layer)] = on_output(
                self._checked_hook(on_activations, activations)
            )
        if gate is not None:
            interceptors.update({site: on_output(gate) for site in relu_sites(model)})
        site = logit_site
        if site is not None:
            interceptors[(site.target, site.attribute)] = _logit_recorder(logits)
        seen: set[int] = set()
        for index, watched in enumerate(sites):
            key = (watched.target, watched.attribute)
            outer = watched.interceptor(self._site_hook(index, watched, on_site, seen))
            interceptors[key] = _around(outer, interceptors.get(key))
        with capture(interceptors):
            outputs = call()
        for index, watched in enumerate(sites):
            if index not in seen:
                raise ValueError(
                    f"'{_name_of(watched)}' did not run in the forward pass of model "
                    f"'{model.name}', so the score has no gradient there. "
                    f"Received: model '{model.name}'"
                )
        if on_activations is not None and not activations:
            raise ValueError(
                f"Layer '{self.layer.name}' did not run in the forward pass of model "
                f"'{model.name}'. Received: layer='{self.layer.name}'"
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
            tensors[index] = self._watched(chosen, on_activations, captured.append)
            return keras.tree.pack_sequence_as(output, tensors)

        return hook

    def _site_hook(self, index: int, site: Site, on_site, seen: set):
        def hook(value):
            if index in seen:
                raise ValueError(
                    f"'{_name_of(site)}' runs more than once in one forward pass (a "
                    "shared layer), so the gradient at it is ambiguous. "
                    f"Received: '{_name_of(site)}'"
                )
            seen.add(index)
            return self._watched(value, lambda v: on_site(index, v))

        return hook

    def _watched(self, tensor, on_value, keep=None):
        """`tensor` as the model should see it after `on_value`, which is given it
        in float32 (mixed precision: the rest of the model keeps its own dtype)
        and, a channels_first model's grid, with its channels last."""
        half = keras.backend.standardize_dtype(tensor.dtype) in HALF_DTYPES
        moved = self.channels_first and len(tensor.shape) == self.input_rank
        view = keras.ops.moveaxis(tensor, 1, -1) if moved else tensor
        watched = on_value(keras.ops.cast(view, "float32") if half else view)
        if keep is not None:
            keep(watched)
        back = keras.ops.cast(watched, tensor.dtype) if half else watched
        return to_model_layout(back) if moved else back


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


def channels_kept(keep):
    """An `on_activations` hook: the layer's output (N, ..., C) times `keep` (N, C)."""

    def hook(activations):
        shape = (-1,) + (1,) * (len(activations.shape) - 2) + (activations.shape[-1],)
        return activations * keras.ops.cast(keras.ops.reshape(keep, shape), activations.dtype)

    return hook


def _around(outer, inner):
    """`outer` intercepting a call that `inner` intercepts too (`None`: nobody), so
    that `inner` sees what `outer` changed: a site at the last activation's input
    is watched before `score="logit"` records that input."""
    if inner is None:
        return outer
    return lambda original, *args, **kwargs: outer(
        lambda *inner_args, **inner_kwargs: inner(original, *inner_args, **inner_kwargs),
        *args,
        **kwargs,
    )


def _name_of(site: Site) -> str:
    """A site's owner by name (a layer's), for messages."""
    return getattr(site.target, "name", type(site.target).__name__)


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
