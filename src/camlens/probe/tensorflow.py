"""The TensorFlow probe: one `tf.function` per target layout, traced per input shape."""

from __future__ import annotations

import tensorflow as tf

from .base import Probe, target_scores


class TensorFlowProbe(Probe):
    def _compile(self, layout: tuple):
        slots = range(len(layout))

        @tf.function(autograph=False, reduce_retracing=True)
        def explain(batch, ids):
            with tf.GradientTape(persistent=len(layout) > 1) as tape:

                def watch(activations):
                    tape.watch(activations)
                    return activations

                outputs, activations = self._forward(
                    lambda: self.model(batch, training=False), watch
                )
                scores, targets = target_scores(outputs, ids, layout)
                totals = [tf.reduce_sum(scores[:, k]) for k in slots]
            gradients = [
                tape.gradient(
                    total, activations, unconnected_gradients=tf.UnconnectedGradients.ZERO
                )
                for total in totals
            ]
            return activations, tf.stack(gradients, axis=1), outputs, targets, scores

        return explain
