"""The torch probe: no graph up to the layer, autograd from the layer on.

The forward pass runs under `torch.no_grad()`; the captured activations are
detached, marked as requiring gradients, and gradient recording is switched on
for the rest of the pass, so autograd only records what follows the layer.
"""

from __future__ import annotations

import keras
import torch

from .base import Probe, target_scores


class TorchProbe(Probe):
    def _compile(self, score: str, layout: tuple):
        def explain(batch, ids):
            batch, ids = keras.ops.convert_to_tensor(batch), keras.ops.convert_to_tensor(ids)

            def track_from_here(activations):
                activations = activations.detach().requires_grad_(True)
                torch.set_grad_enabled(True)
                return activations

            with torch.no_grad():
                classes, outputs, activations = self._forward(
                    lambda: self.model(batch, training=False), track_from_here, score
                )
                scores, targets = target_scores(classes, outputs, ids, layout)
                gradients = [
                    self._gradient(scores[:, k].sum(), activations, k < len(layout) - 1)
                    for k in range(len(layout))
                ]
            return activations, torch.stack(gradients, dim=1), outputs, targets, scores

        return explain

    def _compile_scores(self, score: str, layout: tuple):
        def forward(batch, ids):
            batch, ids = keras.ops.convert_to_tensor(batch), keras.ops.convert_to_tensor(ids)
            with torch.no_grad():
                classes, outputs, _ = self._forward(
                    lambda: self.model(batch, training=False), None, score
                )
                return target_scores(classes, outputs, ids, layout)[0]

        return forward

    @staticmethod
    def _gradient(total, activations, keep_graph: bool):
        if not total.requires_grad:  # the score does not depend on the layer
            return torch.zeros_like(activations)
        (gradient,) = torch.autograd.grad(
            total, activations, retain_graph=keep_graph, allow_unused=True
        )
        return torch.zeros_like(activations) if gradient is None else gradient
