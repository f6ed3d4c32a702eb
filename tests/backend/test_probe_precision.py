"""Mixed precision: float32 activations, gradients and scores from float16 / bfloat16 models."""

import keras
import numpy as np
import pytest

import camlens
from camlens.api.planning import plan_targets
from camlens.methods import class_methods
from camlens.model.inspection import OutputInfo
from camlens.probe import probe_for

TOLERANCE = {"mixed_float16": 1e-2, "mixed_bfloat16": 3e-2}
"""Largest map difference to the float32 model's. bfloat16 keeps 8 bits of
mantissa: the model's own activations differ by about 1e-2 from the float32
model's, which the maps inherit (measured, all backends: Grad-CAM 0.014 to
0.015; with float16 0.002 to 0.003)."""

HALF_SCORE_METHODS = {
    "mixed_float16": {"guided-gradcam": 3e-2, "fullgrad": 0.2},
    "mixed_bfloat16": {"ablationcam": 0.15, "guided-gradcam": 8e-2, "fullgrad": 0.3},
}
"""Methods whose maps rest on what half precision computes least well:
Ablation-CAM on differences of two half-precision scores (a channel's small
drop), Guided Grad-CAM on input gradients backpropagated through every layer in
the model's own dtype. Measured at most: float16 0.009 and 0.021, bfloat16
0.053 and 0.044 (TF, JAX and torch); TensorFlow's bfloat16 Ablation-CAM on an
AVX2-only AMD EPYC, 0.112 (its CPU kernels round differently there). FullGrad
on the gradients at every bias as well, each term rescaled by its own extremes:
the last convolution's gradients (a softmax score's, through the average
pooling) are of order 1e-4 to 1e-6, float16 subnormals, 23% off in float16 and
up to 100% at a location in bfloat16; its maps 0.166 (float16, all three
backends) and 0.26 / 0.26 / 0.21 (bfloat16: torch, JAX, TF)."""

DISCONTINUOUS = {"fem"}
"""FEM thresholds each channel at mean + 2 sigma: a location near the threshold
flips in or out of the map with the last bit of an activation, at any precision."""


def _model(policy: str) -> keras.Model:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input((16, 16, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="last_conv")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))
    finally:
        keras.config.set_dtype_policy(previous)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("policy", sorted(TOLERANCE))
def test_mixed_precision_maps_match_the_float32_model(policy):
    reference, mixed = _model("float32"), _model(policy)
    batch = np.random.default_rng(1).uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
    for method in sorted(set(class_methods()) - DISCONTINUOUS):
        expected = camlens.Explainer(reference, layer="last_conv", method=method)(
            batch, targets=[1, 3]
        )
        maps = camlens.Explainer(mixed, layer="last_conv", method=method)(batch, targets=[1, 3])
        assert maps.heatmaps.dtype == np.float64 and maps.scores.dtype == np.float32
        tolerance = HALF_SCORE_METHODS[policy].get(method, TOLERANCE[policy])
        np.testing.assert_allclose(maps.heatmaps, expected.heatmaps, atol=tolerance, err_msg=method)
        np.testing.assert_allclose(
            maps.scores, expected.scores, atol=TOLERANCE[policy], err_msg=method
        )


@pytest.mark.parametrize("policy", sorted(TOLERANCE))
def test_activations_and_gradients_come_back_in_float32(policy):
    model = _model(policy)
    batch = np.random.default_rng(2).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    plan = plan_targets([0, 4], [OutputInfo(None, (5,))], len(batch))
    result = probe_for(model, model.get_layer("last_conv")).run(batch, plan)
    assert result.activations.dtype == np.float32
    assert result.gradients.dtype == np.float32
    assert result.scores.dtype == np.float32
