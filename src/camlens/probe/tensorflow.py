"""The TensorFlow probe: one `tf.function` per mode, score kind and target slots.

A first call on one image runs eagerly: tracing costs several forward passes,
which a one-off explanation would not win back. Every other call runs the
`tf.function`, traced once per input shape; class ids, masks and the gradients
of callable targets are tensor arguments, so explaining other targets or images
of the same shape does not retrace. Batches never run eagerly: eager TensorFlow
keeps every intermediate of the batch alive (2.7 GB for MobileNetV2 at batch 32,
against 0.35 GB compiled).
"""

from __future__ import annotations

import tensorflow as tf

from ..model.capture import capture
from ..model.keras_internals import tensorflow_moments_site
from .base import Probe, rows
from .scores import OUTPUT_AND_LOGIT, gradient_scores, slot_scores


class TensorFlowProbe(Probe):
    def compile(self, mode: str | tuple, score: str, slots: tuple):
        if mode == "gradients":
            return _compiled_on_reuse(self._explain(score, slots))
        if mode == "hessian":
            return _compiled_on_reuse(self._hessian(score, slots))
        if mode == "guided":
            return _compiled_on_reuse(self._guided(score, slots))
        if isinstance(mode, tuple):
            return _compiled_on_reuse(self._at_sites(score, slots, mode[1]))

        def forward(batch, ids, extras):
            def run(watch):
                return self.forward(lambda: self.call_model(batch), watch, score)

            return self.forward_only(mode, slots, run, ids, extras)

        return _compiled_on_reuse(forward)

    def _explain(self, score: str, slots: tuple):
        def explain(batch, ids, extras):
            # Only the activations are watched, not the variables: the tape then
            # records just what follows the layer.
            fused = score == OUTPUT_AND_LOGIT  # a second group of slots
            with tf.GradientTape(
                persistent=len(slots) > 1 or fused, watch_accessed_variables=False
            ) as tape:

                def watch(activations):
                    tape.watch(activations)
                    return activations

                classes, outputs, activations = self.forward(
                    lambda: self.call_model(batch), watch, score
                )
                scores, targets = gradient_scores(score, slots, classes, outputs, ids, extras)
                totals = [tf.reduce_sum(scores[:, k]) for k in range(scores.shape[1])]
            gradients = [_gradient(tape, total, activations) for total in totals]
            return activations, tf.stack(gradients, axis=1), outputs, targets, scores

        return explain

    def _hessian(self, score: str, slots: tuple):
        """Nested tapes. `tf.nn.moments` stops the gradient of the mean inside
        the variance: first derivatives are right (the deviations sum to 0),
        second ones are not (2% off through a ViT's LayerNormalization). Keras's
        TensorFlow backend computes every moment through its module function
        `_compute_moments` (a Keras internal, no public hook does the same),
        which is replaced here, for this pass only, by the same formula without
        the stop."""
        moments = {tensorflow_moments_site(): _moments_with_mean_gradient}

        def hessian(batch, ids, extras):
            with (
                capture(moments),
                tf.GradientTape(persistent=True, watch_accessed_variables=False) as outer,
            ):
                with tf.GradientTape(
                    persistent=len(slots) > 1, watch_accessed_variables=False
                ) as inner:

                    def watch(activations):
                        outer.watch(activations)
                        inner.watch(activations)
                        return activations

                    classes, outputs, activations = self.forward(
                        lambda: self.call_model(batch), watch, score
                    )
                    scores, _ = slot_scores(slots, classes, outputs, ids, extras)
                    totals = [tf.reduce_sum(scores[:, k]) for k in range(len(slots))]
                # g . A with A held constant: its gradient is H A
                products = [
                    tf.reduce_sum(
                        _gradient(inner, total, activations) * tf.stop_gradient(activations)
                    )
                    for total in totals
                ]
            return tf.stack([_gradient(outer, p, activations) for p in products], axis=1)

        return hessian

    def _guided(self, score: str, slots: tuple):
        def guided(batch, ids, extras):
            batch = tf.convert_to_tensor(batch)
            with tf.GradientTape(persistent=len(slots) > 1, watch_accessed_variables=False) as tape:
                tape.watch(batch)
                classes, outputs, _ = self.forward(
                    lambda: self.call_model(batch),
                    None,
                    score,
                    gate=_positive_gradients,
                )
                scores, _ = slot_scores(slots, classes, outputs, ids, extras)
                totals = [tf.reduce_sum(scores[:, k]) for k in range(len(slots))]
            return tf.stack([_gradient(tape, total, batch) for total in totals], axis=1)

        return guided

    def _at_sites(self, score: str, slots: tuple, sites: tuple):
        def at_sites(batch, ids, extras):
            batch = tf.convert_to_tensor(batch)
            values = {}
            with tf.GradientTape(persistent=len(slots) > 1, watch_accessed_variables=False) as tape:
                tape.watch(batch)

                def on_site(index, value):
                    tape.watch(value)
                    values[index] = value
                    return value

                classes, outputs, _ = self.forward(
                    lambda: self.call_model(batch), None, score, sites=sites, on_site=on_site
                )
                scores, _ = slot_scores(slots, classes, outputs, ids, extras)
                totals = [tf.reduce_sum(scores[:, k]) for k in range(len(slots))]
            sources = [batch] + [values[index] for index in range(len(sites))]
            per_slot = [_gradient(tape, total, sources) for total in totals]
            stacked = [tf.stack(column, axis=1) for column in zip(*per_slot)]
            return stacked[0], stacked[1:], sources[1:]

        return at_sites

    def callable_terms(self, function, outputs):
        outputs = tf.nest.map_structure(tf.convert_to_tensor, outputs)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(outputs)
            values = function(outputs)
            total = tf.reduce_sum(values)
        cotangent = tape.gradient(
            total, outputs, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
        return values, cotangent


@tf.custom_gradient
def _positive_gradients(x):
    """The identity, passing back only positive gradients."""
    return tf.identity(x), tf.nn.relu


def _moments_with_mean_gradient(original, x, axes, keepdims):
    """`tf.nn.moments(x, axes, keepdims)`, the mean differentiated in the variance too."""
    mean = tf.reduce_mean(x, axes, keepdims=True)
    variance = tf.reduce_mean(tf.square(x - mean), axes, keepdims=keepdims)
    return (mean if keepdims else tf.squeeze(mean, axes)), variance


def _gradient(tape, total, source):
    return tape.gradient(total, source, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _compiled_on_reuse(function):
    """Run `function` eagerly on a first call with one image, else as a `tf.function`."""
    compiled = tf.function(function, autograph=False, reduce_retracing=True)
    called = False

    def run(batch, ids, extras):
        nonlocal called
        first, called = not called, True
        if first and rows(batch) == 1:
            return function(*(_tensors(value) for value in (batch, ids, extras)))
        return compiled(batch, ids, extras)

    return run


def _tensors(structure):
    return tf.nest.map_structure(lambda a: a if a is None else tf.convert_to_tensor(a), structure)


def compiled_function(function):
    """`function` of tensors traced once per input shape (`probe.decoding`):
    keras-hub's non-max suppression needs a static batch size."""
    return tf.function(function)
