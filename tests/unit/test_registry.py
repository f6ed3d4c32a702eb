"""camlens.methods.register: a user's own method, derived like the built-in ones."""

from __future__ import annotations

import numpy as np
import pytest

from camlens.methods import (
    BUILT_IN,
    METHODS,
    Method,
    MethodInputs,
    compute,
    get_method,
    register,
    unregister,
)


def gradient_max(inputs):
    """(N, K, C): each channel's largest gradient over the locations."""
    gradients = inputs.gradients
    return gradients.max(axis=tuple(range(2, gradients.ndim - 1)))


@pytest.fixture
def registered():
    method = register("Gradient-Max", gradient_max)
    yield method
    unregister(method.name)


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return MethodInputs(
        activations=rng.uniform(0, 1, (2, 3, 3, 4)),
        gradients=rng.normal(0, 1, (2, 1, 3, 3, 4)),
        images=np.zeros((2, 3, 3, 3), np.float32),
        sign=1.0,
        masked_scores=None,
        mask_batch_size=1,
        target_count=1,
    )


def test_a_registered_method_is_found_by_name_in_any_case(registered):
    assert registered.name == "gradient-max" and registered.title == "Gradient-Max"
    assert get_method("GRADIENT-MAX") is registered and "gradient-max" in METHODS
    assert registered.sums_channels  # so smooth="eigen" applies


def test_its_map_is_the_weighted_sum_of_its_channel_weights(registered):
    given = inputs()
    maps = compute(registered, given)
    for n in range(2):
        weights = [given.gradients[n, 0, :, :, k].max() for k in range(4)]
        raw = sum(weights[k] * given.activations[n, :, :, k] for k in range(4))
        raw = np.maximum(raw, 0)
        np.testing.assert_allclose(maps[n, 0], raw / (raw.max() + 1e-7), atol=1e-12)


def test_channel_terms_and_raw_maps_register_too():
    terms = register("terms", channel_terms=lambda i: i.gradients * i.activations[:, None])
    raw = register("raw", raw_maps=lambda i: i.activations[:, None].sum(axis=-1), gradients=False)
    try:
        given = inputs()
        np.testing.assert_allclose(compute(terms, given), compute(METHODS["hirescam"], given))
        assert not raw.sums_channels and not raw.gradients
        assert compute(raw, given).shape == (2, 1, 3, 3)
    finally:
        unregister("terms")
        unregister("raw")


def test_a_method_object_registers_as_it_is():
    method = Method("mine", "Mine", channel_weights=gradient_max, score="logit")
    try:
        assert register(method) is method and get_method("mine").score == "logit"
    finally:
        unregister("mine")


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: register("gradcam", gradient_max), ValueError, "built-in"),
        (lambda: register("x"), ValueError, "exactly one of"),
        (lambda: register("x", gradient_max, raw_maps=gradient_max), ValueError, "exactly one of"),
        (lambda: register("x", "not a function"), TypeError, "must be callable"),
        (lambda: register(3, gradient_max), TypeError, "method must be a name"),
        (lambda: register("", gradient_max), ValueError, "non-empty"),
        (lambda: unregister("gradcam"), ValueError, "not a registered method of yours"),
    ],
)
def test_bad_registrations_are_refused_naming_the_argument(call, error, words):
    with pytest.raises(error, match=words):
        call()
    assert set(BUILT_IN) <= set(METHODS)


def test_registering_a_name_twice_needs_replace(registered):
    with pytest.raises(ValueError, match="replace=True"):
        register("gradient-max", gradient_max)
    other = register("gradient-max", lambda i: -gradient_max(i), replace=True)
    assert get_method("gradient-max") is other
