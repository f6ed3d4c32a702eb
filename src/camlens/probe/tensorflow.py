"""The TensorFlow probe: one `tf.function` per score kind and target layout.

The first call runs eagerly: tracing costs several forward passes, which a
one-off explanation would not win back. From the second call on, the
`tf.function` runs, traced once per input shape; targets are a tensor argument,
so explaining other classes or images of the same shape does not retrace.
"""

from __future__ import annotations

import tensorflow as tf

from .base import Probe, target_scores


class TensorFlowProbe(Probe):
    def _compile(self, score: str, layout: tuple):
        def explain(batch, ids):
            with tf.GradientTape(persistent=len(layout) > 1) as tape:

                def watch(activations):
                    tape.watch(activations)
                    return activations

                classes, outputs, activations = self._forward(
                    lambda: self.model(batch, training=False), watch, score
                )
                scores, targets = target_scores(classes, outputs, ids, layout)
                totals = [tf.reduce_sum(scores[:, k]) for k in range(len(layout))]
            gradients = [
                tape.gradient(
                    total, activations, unconnected_gradients=tf.UnconnectedGradients.ZERO
                )
                for total in totals
            ]
            return activations, tf.stack(gradients, axis=1), outputs, targets, scores

        return _compiled_on_reuse(explain)

    def _compile_scores(self, score: str, layout: tuple):
        def forward(batch, ids):
            classes, outputs, _ = self._forward(
                lambda: self.model(batch, training=False), None, score
            )
            return target_scores(classes, outputs, ids, layout)[0]

        return _compiled_on_reuse(forward)


def _compiled_on_reuse(function):
    """Run `function` eagerly on the first call and as a `tf.function` afterwards."""
    compiled = tf.function(function, autograph=False, reduce_retracing=True)
    called = False

    def run(batch, ids):
        nonlocal called
        if not called:
            called = True
            return function(tf.convert_to_tensor(batch), tf.convert_to_tensor(ids))
        return compiled(batch, ids)

    return run
