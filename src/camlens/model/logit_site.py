"""Where a model's score before its last softmax or sigmoid can be read, found in
the trace of `inspection` (for `score="logit"`)."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .bias_sites import CONVOLUTIONS
from .keras_internals import activation_module

_LINEAR_LAYERS = (keras.layers.Dense, keras.layers.EinsumDense, *CONVOLUTIONS)
"""Layers that apply `self.activation` last in their `call`, or none."""


@dataclass(frozen=True)
class LogitSite:
    """Where the score before the model's last activation can be read.

    Attributes:
        target: the object whose attribute is intercepted: a layer (attribute
            `"activation"`) or the backend's `nn` module (`"softmax"` or
            `"sigmoid"`).
        attribute: the name of the intercepted callable; its first argument
            is the pre-activation score.
        by_output: the callable runs more than once per forward pass (attention
            softmaxes): the call whose result is the model's output is the one.
    """

    target: object
    attribute: str
    by_output: bool = False


def find_logit_site(output, events: list) -> LogitSite | None | str:
    """Where the traced model's `output` had its last activation applied.

    Args:
        output: the traced model's output.
        events: `(layer record or activation name, output)` in the order they
            were produced during the trace.

    Returns:
        A `LogitSite`; `None` where the output comes from a linear layer (it
        is the logit); a sentence saying why camlens cannot tell.
    """
    tensors = [t for t in keras.tree.flatten(output) if hasattr(t, "shape")]
    if len(tensors) != 1 or output is not tensors[0]:
        return f"its output is not one tensor (it has {len(tensors)})."
    first = next(event for event, value in events if value is output)
    if isinstance(first, str):
        calls = sum(1 for event, _ in events if event == first)
        return LogitSite(activation_module(), first, by_output=calls > 1)
    layer = first.layer
    if layer is None:  # the model's own call made it from a layer's tuple or dict
        return "its output is taken from a layer's several outputs in the model's own call."
    activation = getattr(layer, "activation", None)
    linear = activation is None or getattr(activation, "__name__", "") == "linear"
    if isinstance(layer, _LINEAR_LAYERS) and linear:
        return None
    if isinstance(layer, (*_LINEAR_LAYERS, keras.layers.Activation)) and not linear:
        return LogitSite(layer, "activation")
    return (
        f"its output comes from layer '{layer.name}' ({type(layer).__name__}), "
        "which is neither a softmax or sigmoid nor a linear Dense or convolution."
    )
