"""The JAX probe: a jitted stateless call, differentiated at a zero perturbation.

JAX cannot differentiate with respect to an intermediate value, so the captured
layer's output gets a zero array added; the gradient with respect to that zero
is the gradient with respect to the activations. The model's variables enter
the jitted function as arguments (through a `keras.StatelessScope`), so the
compiled function holds no copy of the weights and sees their current values.
Class ids, masks and the gradients of callable targets are arguments too: new
targets of the same kinds reuse the compiled function.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras

from .base import Probe
from .scores import gradient_scores, slot_scores


class JaxProbe(Probe):
    def compile(self, mode: str | tuple, score: str, slots: tuple):
        if mode == "gradients":
            return self._with_variables(self._explain(score, slots))
        if mode == "hessian":
            return self._with_variables(self._hessian(score, slots))
        if mode == "guided":
            return self._with_variables(self._guided(score, slots))
        if isinstance(mode, tuple):
            return self._with_variables(self._at_sites(score, slots, mode[1]))

        @jax.jit
        def forward(values, batch, ids, extras):
            def run(watch):
                return self._stateless_forward(values, batch, watch, score)

            return self.forward_only(mode, slots, run, ids, extras)

        return self._with_variables(forward)

    def _explain(self, score: str, slots: tuple):
        def scores_at(delta, values, batch, ids, extras):
            classes, outputs, activations = self._stateless_forward(
                values, batch, lambda a: a + delta, score
            )
            scores, targets = gradient_scores(score, slots, classes, outputs, ids, extras)
            return scores, (activations, outputs, targets)

        @jax.jit
        def explain(values, batch, ids, extras):
            spec = jax.eval_shape(
                lambda: self._stateless_forward(values, batch, lambda a: a, score)[2]
            )
            delta = jnp.zeros(spec.shape, spec.dtype)
            scores, pullback, (activations, outputs, targets) = jax.vjp(
                lambda d: scores_at(d, values, batch, ids, extras), delta, has_aux=True
            )
            count = scores.shape[1]
            cotangents = jnp.broadcast_to(
                jnp.eye(count, dtype=scores.dtype)[:, None, :], (count,) + scores.shape
            )
            (gradients,) = jax.vmap(pullback)(cotangents)
            return activations, jnp.moveaxis(gradients, 0, 1), outputs, targets, scores

        return explain

    def _hessian(self, score: str, slots: tuple):
        """d/de of the gradient at A + e A, e = 0: the Hessian times A."""

        @jax.jit
        def hessian(values, batch, ids, extras):
            activations = self._stateless_forward(values, batch, lambda a: a, score)[2]

            def gradient(delta, slot):
                def score_at(d):
                    classes, outputs, _ = self._stateless_forward(
                        values, batch, lambda a: a + d, score
                    )
                    return slot_scores(slots, classes, outputs, ids, extras)[0][:, slot].sum()

                return jax.grad(score_at)(delta)

            zero = jnp.zeros_like(activations)
            products = [
                jax.jvp(lambda d, slot=slot: gradient(d, slot), (zero,), (activations,))[1]
                for slot in range(len(slots))
            ]
            return jnp.stack(products, axis=1)

        return hessian

    def _guided(self, score: str, slots: tuple):
        @jax.jit
        def guided(values, batch, ids, extras):
            def scores_of(inputs):
                mapping = list(zip(self.model.variables, values))
                with keras.StatelessScope(state_mapping=mapping):
                    classes, outputs, _ = self.forward(
                        lambda: self.call_model(inputs),
                        None,
                        score,
                        gate=_positive_gradients,
                    )
                return slot_scores(slots, classes, outputs, ids, extras)[0]

            scores, pullback = jax.vjp(scores_of, batch)
            count = scores.shape[1]
            cotangents = jnp.broadcast_to(
                jnp.eye(count, dtype=scores.dtype)[:, None, :], (count,) + scores.shape
            )
            (gradients,) = jax.vmap(pullback)(cotangents)
            return jnp.moveaxis(gradients, 0, 1)

        return guided

    def _at_sites(self, score: str, slots: tuple, sites: tuple):
        """A zero added at each site, as at the layer in `_explain`."""

        def scores_at(inputs, deltas, values, ids, extras):
            seen = {}

            def on_site(index, value):
                value = value if deltas is None else value + deltas[index]
                seen[index] = value
                return value

            mapping = list(zip(self.model.variables, values))
            with keras.StatelessScope(state_mapping=mapping):
                classes, outputs, _ = self.forward(
                    lambda: self.call_model(inputs), None, score, sites=sites, on_site=on_site
                )
            scores = slot_scores(slots, classes, outputs, ids, extras)[0]
            return scores, [seen[index] for index in range(len(sites))]

        @jax.jit
        def at_sites(values, batch, ids, extras):
            specs = jax.eval_shape(lambda: scores_at(batch, None, values, ids, extras)[1])
            deltas = [jnp.zeros(spec.shape, spec.dtype) for spec in specs]
            scores, pullback, seen = jax.vjp(
                lambda b, d: scores_at(b, d, values, ids, extras), batch, deltas, has_aux=True
            )
            count = scores.shape[1]
            cotangents = jnp.broadcast_to(
                jnp.eye(count, dtype=scores.dtype)[:, None, :], (count,) + scores.shape
            )
            inputs, gradients = jax.vmap(pullback)(cotangents)
            moved = [jnp.moveaxis(g, 0, 1) for g in gradients]
            return jnp.moveaxis(inputs, 0, 1), moved, seen

        return at_sites

    def callable_terms(self, function, outputs):
        values, pullback = jax.vjp(function, outputs)
        (cotangent,) = pullback(jnp.ones_like(values))
        return values, cotangent

    def _stateless_forward(self, values, batch, on_activations, score):
        mapping = list(zip(self.model.variables, values))
        with keras.StatelessScope(state_mapping=mapping):
            return self.forward(lambda: self.call_model(batch), on_activations, score)

    def _with_variables(self, compiled):
        def run(batch, ids, extras):
            return compiled([v.value for v in self.model.variables], batch, ids, extras)

        return run


@jax.custom_vjp
def _positive_gradients(x):
    """The identity, passing back only positive gradients."""
    return x


_positive_gradients.defvjp(lambda x: (x, None), lambda _, g: (jnp.maximum(g, 0),))


def compiled_function(function):
    """`function` of tensors compiled once per input shape (`probe.decoding`)."""
    return jax.jit(function)
