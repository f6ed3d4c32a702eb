"""The torch probe: no graph up to the layer, autograd from the layer on.

The forward pass runs under `torch.no_grad()`; the captured activations are
detached, marked as requiring gradients, and gradient recording is switched on
for the rest of the pass, so autograd only records what follows the layer.
"""

from __future__ import annotations

import keras
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from .base import Probe
from .scores import gradient_scores, slot_scores


class TorchProbe(Probe):
    def compile(self, mode: str | tuple, score: str, slots: tuple):
        if mode == "hessian":
            return self._hessian(score, slots)
        if mode == "guided":
            return self._guided(score, slots)
        if isinstance(mode, tuple):
            return self._at_sites(score, slots, mode[1])

        def explain(batch, ids, extras):
            batch, ids, extras = _tensors((batch, ids, extras))

            with torch.no_grad():
                classes, outputs, activations = self.forward(
                    lambda: self.call_model(batch), _track_from_here, score
                )
                scores, targets = gradient_scores(score, slots, classes, outputs, ids, extras)
                count = scores.shape[1]
                gradients = [
                    self._gradient(scores[:, k].sum(), activations, k < count - 1)
                    for k in range(count)
                ]
            return activations, torch.stack(gradients, dim=1), outputs, targets, scores

        def forward(batch, ids, extras):
            batch, ids, extras = _tensors((batch, ids, extras))

            def run(watch):
                return self.forward(lambda: self.call_model(batch), watch, score)

            with torch.no_grad():
                return self.forward_only(mode, slots, run, ids, extras)

        return explain if mode == "gradients" else forward

    def _hessian(self, score: str, slots: tuple):
        """Double backward; attention runs as plain math (the fused CPU kernels
        have no second derivative)."""

        def hessian(batch, ids, extras):
            batch, ids, extras = _tensors((batch, ids, extras))
            with torch.no_grad(), sdpa_kernel([SDPBackend.MATH]):
                classes, outputs, activations = self.forward(
                    lambda: self.call_model(batch), _track_from_here, score
                )
                scores, _ = slot_scores(slots, classes, outputs, ids, extras)
                products = []
                for k in range(len(slots)):
                    gradient = self._gradient(
                        scores[:, k].sum(), activations, True, create_graph=True
                    )
                    # g . A with A held constant: its gradient is H A
                    product = (gradient * activations.detach()).sum()
                    products.append(self._gradient(product, activations, True))
            return torch.stack(products, dim=1)

        return hessian

    def _guided(self, score: str, slots: tuple):
        def guided(batch, ids, extras):
            batch, ids, extras = _tensors((batch, ids, extras))
            batch = batch.detach().requires_grad_(True)
            with torch.enable_grad():
                classes, outputs, _ = self.forward(
                    lambda: self.call_model(batch),
                    None,
                    score,
                    gate=_PositiveGradients.apply,
                )
                scores, _ = slot_scores(slots, classes, outputs, ids, extras)
                gradients = [
                    self._gradient(scores[:, k].sum(), batch, k < len(slots) - 1)
                    for k in range(len(slots))
                ]
            return torch.stack(gradients, dim=1)

        return guided

    def _at_sites(self, score: str, slots: tuple, sites: tuple):
        def at_sites(batch, ids, extras):
            batch, ids, extras = _tensors((batch, ids, extras))
            batch = batch.detach().requires_grad_(True)
            values = {}

            def on_site(index, value):
                values[index] = value
                return value

            with torch.enable_grad():
                classes, outputs, _ = self.forward(
                    lambda: self.call_model(batch), None, score, sites=sites, on_site=on_site
                )
                scores, _ = slot_scores(slots, classes, outputs, ids, extras)
            sources = [batch] + [values[index] for index in range(len(sites))]
            per_slot = [
                _gradients(scores[:, k].sum(), sources, k < len(slots) - 1)
                for k in range(len(slots))
            ]
            stacked = [torch.stack(column, dim=1) for column in zip(*per_slot)]
            return stacked[0], stacked[1:], [value.detach() for value in sources[1:]]

        return at_sites

    def callable_terms(self, function, outputs):
        leaves = [leaf.detach().requires_grad_(True) for leaf in keras.tree.flatten(outputs)]
        outputs = keras.tree.pack_sequence_as(outputs, leaves)
        with torch.enable_grad():
            values = function(outputs)
            total = values.sum()
        gradients = (
            torch.autograd.grad(total, leaves, allow_unused=True)
            if total.requires_grad
            else [None] * len(leaves)
        )
        gradients = [
            torch.zeros_like(leaf) if g is None else g for leaf, g in zip(leaves, gradients)
        ]
        return values.detach(), keras.tree.pack_sequence_as(outputs, gradients)

    @staticmethod
    def _gradient(total, activations, keep_graph: bool, create_graph: bool = False):
        if not total.requires_grad:  # the score does not depend on the layer
            return torch.zeros_like(activations)
        (gradient,) = torch.autograd.grad(
            total,
            activations,
            retain_graph=keep_graph,
            create_graph=create_graph,
            allow_unused=True,
        )
        return torch.zeros_like(activations) if gradient is None else gradient


def _gradients(total, sources: list, keep_graph: bool) -> list:
    """d total / d each of `sources`, zeros where it does not depend on one."""
    if not total.requires_grad:
        return [torch.zeros_like(source) for source in sources]
    gradients = torch.autograd.grad(total, sources, retain_graph=keep_graph, allow_unused=True)
    return [torch.zeros_like(s) if g is None else g for s, g in zip(sources, gradients)]


def _track_from_here(activations):
    """The layer's output detached, autograd recording from it on."""
    activations = activations.detach().requires_grad_(True)
    torch.set_grad_enabled(True)
    return activations


class _PositiveGradients(torch.autograd.Function):
    """The identity, passing back only positive gradients."""

    @staticmethod
    def forward(x):
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, gradient):
        return gradient.clamp(min=0)


def _tensors(structure):
    return keras.tree.map_structure(
        lambda a: a if a is None else keras.ops.convert_to_tensor(a), structure
    )


def compiled_function(function):
    """`function` as it is: torch runs eagerly, as Keras runs its models (`probe.decoding`)."""
    return function
