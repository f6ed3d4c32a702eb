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
    def _compile(self, score: str, layout: tuple):
        def scores_at(delta, values, batch, ids):
            classes, outputs, activations = self._stateless_forward(
                values, batch, lambda a: a + delta, score
            )
            scores, targets = target_scores(classes, outputs, ids, layout)
            return scores, (activations, outputs, targets)

        @jax.jit
        def explain(values, batch, ids):
            spec = jax.eval_shape(
                lambda: self._stateless_forward(values, batch, lambda a: a, score)[2]
            )
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

        return self._with_variables(explain)

    def _compile_scores(self, score: str, layout: tuple):
        @jax.jit
        def forward(values, batch, ids):
            classes, outputs, _ = self._stateless_forward(values, batch, None, score)
            return target_scores(classes, outputs, ids, layout)[0]

        return self._with_variables(forward)

    def _stateless_forward(self, values, batch, on_activations, score):
        mapping = list(zip(self.model.variables, values))
        with keras.StatelessScope(state_mapping=mapping):
            return self._forward(lambda: self.model(batch, training=False), on_activations, score)

    def _with_variables(self, compiled):
        def run(batch, ids):
            return compiled([v.value for v in self.model.variables], batch, ids)

        return run
