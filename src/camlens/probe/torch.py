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
    def _compile(self, layout: tuple):
        def explain(batch, ids):
            batch = keras.ops.convert_to_tensor(batch)
            ids = keras.ops.convert_to_tensor(ids)

            def track_from_here(activations):
                activations = activations.detach().requires_grad_(True)
                torch.set_grad_enabled(True)
                return activations

            with torch.no_grad():
                outputs, activations = self._forward(
                    lambda: self.model(batch, training=False), track_from_here
                )
                scores, targets = target_scores(outputs, ids, layout)
                gradients = []
                for k in range(len(layout)):
                    gradient = None
                    if scores.requires_grad:
                        (gradient,) = torch.autograd.grad(
                            scores[:, k].sum(),
                            activations,
                            retain_graph=k < len(layout) - 1,
                            allow_unused=True,
                        )
                    gradients.append(
                        torch.zeros_like(activations) if gradient is None else gradient
                    )
            return activations, torch.stack(gradients, dim=1), outputs, targets, scores

        return explain
