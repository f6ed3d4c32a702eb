"""The JAX probe: a jitted stateless call, differentiated at a zero perturbation.

JAX cannot differentiate with respect to an intermediate value, so the captured
layer's output gets a zero array added; the gradient with respect to that zero
is the gradient with respect to the activations. The model's variables enter
the jitted function as arguments (through a `keras.StatelessScope`), so the
compiled function holds no copy of the weights and sees their current values.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras

from .base import Probe, target_scores


class JaxProbe(Probe):
    def _compile(self, layout: tuple):
        def forward(values, batch, on_output):
            mapping = list(zip(self.model.variables, values))
            with keras.StatelessScope(state_mapping=mapping):
                return self._forward(lambda: self.model(batch, training=False), on_output)

        def scores_at(delta, values, batch, ids):
            outputs, activations = forward(values, batch, lambda a: a + delta)
            scores, targets = target_scores(outputs, ids, layout)
            return scores, (activations, outputs, targets)

        @jax.jit
        def explain(values, batch, ids):
            spec = jax.eval_shape(lambda: forward(values, batch, lambda a: a)[1])
            delta = jnp.zeros(spec.shape, spec.dtype)
            scores, pullback, (activations, outputs, targets) = jax.vjp(
                lambda d: scores_at(d, values, batch, ids), delta, has_aux=True
            )
            slots = scores.shape[1]
            cotangents = jnp.broadcast_to(
                jnp.eye(slots, dtype=scores.dtype)[:, None, :], (slots,) + scores.shape
            )
            (gradients,) = jax.vmap(pullback)(cotangents)
            return activations, jnp.moveaxis(gradients, 0, 1), outputs, targets, scores

        def run(batch, ids):
            return explain([v.value for v in self.model.variables], batch, ids)

        return run
