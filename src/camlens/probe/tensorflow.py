"""The TensorFlow probe: one `tf.function` per score kind and target layout.

A first call on one image runs eagerly: tracing costs several forward passes,
which a one-off explanation would not win back. Every other call runs the
`tf.function`, traced once per input shape; targets are a tensor argument, so
explaining other classes or images of the same shape does not retrace. Batches
never run eagerly: eager TensorFlow keeps every intermediate of the batch alive
(2.7 GB for MobileNetV2 at batch 32, against 0.35 GB compiled).
"""

from __future__ import annotations

import tensorflow as tf

from .base import Probe, target_scores


class TensorFlowProbe(Probe):
    def _compile(self, score: str, layout: tuple):
        def explain(batch, ids):
            # Only the activations are watched, not the variables: the tape then
            # records just what follows the layer.
            with tf.GradientTape(
                persistent=len(layout) > 1, watch_accessed_variables=False
            ) as tape:

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
    """Run `function` eagerly on a first call with one image, else as a `tf.function`."""
    compiled = tf.function(function, autograph=False, reduce_retracing=True)
    called = False

    def run(batch, ids):
        nonlocal called
        first, called = not called, True
        if first and len(batch) == 1:
            return function(tf.convert_to_tensor(batch), tf.convert_to_tensor(ids))
        return compiled(batch, ids)

    return run
