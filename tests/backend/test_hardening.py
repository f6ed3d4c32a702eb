"""Interrupted calls, threads, and random input: never a broken model or a stack trace."""

import threading
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import camlens
from camlens.api.planning import plan_targets
from camlens.model.inputs import check_images
from camlens.model.inspection import OutputInfo
from support.integrity import assert_unchanged, snapshot
from support.models import (
    CLASSES,
    SIZE,
    functional_resnet,
    images,
    residual_weights,
    subclassed_resnet,
)
from support.reference import residual_gradcam


def test_keyboard_interrupt_inside_the_forward_pass_leaves_the_model_intact(any_model):
    before = snapshot(any_model)
    pool = [layer for layer in any_model._flatten_layers() if layer.name == "pool"][0]
    original = type(pool).call

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    type(pool).call = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            camlens.explain_prediction(any_model, images(), layer="conv1", score="logit")
    finally:
        type(pool).call = original
    assert_unchanged(before, snapshot(any_model))
    assert (
        camlens.explain_prediction(any_model, images(), layer="conv1").targets[0].heatmap.max() > 0
    )


def test_threads_compile_and_give_the_reference_maps():
    # Fresh models: each probe is built and traced inside the threads, four of
    # them starting together (batches of two, so TensorFlow compiles at once).
    shared, other = functional_resnet(), subclassed_resnet()
    jobs = [
        (model, k % CLASSES, seed) for k, seed in enumerate(range(4)) for model in (shared, other)
    ]
    start = threading.Barrier(4)

    def explain(job):
        model, class_id, seed = job
        explainer = camlens.Explainer(model, layer="conv1")
        start.wait(timeout=120)
        return explainer(images(2, seed=seed), targets=[class_id]).heatmaps[:, 0]

    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(explain, jobs))
    for (_, class_id, seed), heatmaps in zip(jobs, threaded):
        for image, heatmap in zip(images(2, seed=seed), heatmaps):
            expected = residual_gradcam(residual_weights(), image, class_id)[0]
            np.testing.assert_allclose(heatmap, expected, atol=1e-5)
    for model in (shared, other):
        assert all("call" not in vars(layer) for layer in model._flatten_layers())


@pytest.mark.parametrize(
    "call",
    [
        lambda m: camlens.explain_prediction(m, images()),
        lambda m: camlens.show_prediction(m, images()),
        lambda m: camlens.Explainer(m),
        lambda m: camlens.explain_batch(m, images()),
        lambda m: camlens.gradcam_backend(m, images(), None, None),
    ],
)
@pytest.mark.parametrize("not_a_model", [None, "model.keras", keras.layers.Dense(2)])
def test_every_entry_point_refuses_what_is_not_a_model(call, not_a_model):
    with pytest.raises(TypeError, match="model must be a Keras 3 model"):
        call(not_a_model)


@pytest.mark.parametrize(
    "weights, activations",
    [
        (np.ones(3), np.ones((2, 2))),
        (np.ones((3, 1)), np.ones((2, 2, 3))),
        (np.ones(4), np.ones((2, 2, 3))),
    ],
)
def test_gradcam_shapes(weights, activations):
    with pytest.raises(ValueError, match="gradcam expects|one entry per channel"):
        camlens.gradcam(weights, activations)


MODEL = functional_resnet()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hnp.arrays(
        dtype=st.sampled_from(
            [np.float16, np.float32, np.float64, np.uint8, np.int32, bool, np.complex64]
        ),
        shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=14),
        elements=None,
    )
)
def test_any_array_is_a_valid_batch_or_a_clear_error(array):
    try:
        checked = check_images(array, MODEL, name="doc", single=True)
    except (TypeError, ValueError) as error:
        assert "doc" in str(error)
        return
    assert checked.dtype == np.float32
    assert checked.shape == (1, SIZE, SIZE, 3)
    assert np.isfinite(checked).all()


@settings(max_examples=80, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.integers(-5, 10),
        st.text(max_size=3),
        st.floats(allow_nan=True),
        st.lists(
            st.one_of(st.integers(-5, 10), st.floats(), st.text(max_size=2), st.booleans()),
            max_size=4,
        ),
        st.tuples(st.integers()),
        hnp.arrays(
            st.sampled_from([np.int32, np.int64, np.float32]),
            hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
            elements=st.integers(-2, 7),
        ),
    )
)
def test_any_targets_are_valid_or_a_clear_error(targets):
    try:
        plan = plan_targets(targets, [OutputInfo(None, (CLASSES,))], count=2)
    except (TypeError, ValueError) as error:
        assert "targets" in str(error)
        return
    assert plan.ids.shape == (2, len(plan.slots)) and len(plan.slots) >= 1
    assert ((plan.ids >= 0) & (plan.ids < CLASSES)).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float32, (1, SIZE, SIZE, 3), elements=st.floats(-1e4, 1e4, width=32)))
def test_any_finite_image_gives_maps_in_range(doc):
    heatmap = camlens.explain_prediction(MODEL, doc).targets[0].heatmap
    assert heatmap.shape == (SIZE, SIZE)
    assert np.isfinite(heatmap).all() and heatmap.min() >= 0 and heatmap.max() <= 1
