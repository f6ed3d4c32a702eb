"""capture.py: shadows per context, removed by identity; quantized and rematerialised layers."""

import asyncio
import threading

import keras
import numpy as np
import pytest
from keras import layers

import camlens
from camlens.model.capture import capture, on_output
from camlens.model.keras_internals import call_site


class Greeter:
    def hello(self):
        return "hello"


def tagged(tag):
    return lambda original, *args, **kwargs: f"{tag}:{original(*args, **kwargs)}"


def test_a_capture_closed_out_of_order_removes_its_own_frame():
    greeter = Greeter()

    def opened_in_a_generator():
        with capture({(greeter, "hello"): tagged("generator")}):
            yield

    generator = opened_in_a_generator()
    next(generator)
    with capture({(greeter, "hello"): tagged("caller")}):
        assert greeter.hello() == "caller:hello"
        generator.close()  # the generator's capture closes first
        assert greeter.hello() == "caller:hello"
    assert greeter.hello() == "hello"
    assert "hello" not in vars(greeter)


def test_asyncio_tasks_see_only_their_own_captures():
    greeter = Greeter()

    async def task(tag):
        with capture({(greeter, "hello"): tagged(tag)}):
            seen = []
            for _ in range(3):
                await asyncio.sleep(0)  # the other task opens and calls in between
                seen.append(greeter.hello())
            return seen

    async def both():
        return await asyncio.gather(task("a"), task("b"))

    first, second = asyncio.run(both())
    assert first == ["a:hello"] * 3
    assert second == ["b:hello"] * 3
    assert "hello" not in vars(greeter)


def test_a_task_started_inside_a_capture_stops_seeing_it_when_it_closes():
    greeter = Greeter()
    results = []

    async def late_caller(event):
        await event.wait()
        results.append(greeter.hello())

    async def main():
        event = asyncio.Event()
        with capture({(greeter, "hello"): tagged("outer")}):
            task = asyncio.create_task(late_caller(event))  # copies the context
            await asyncio.sleep(0)
        with capture({(greeter, "hello"): tagged("main")}):  # not in the task's context
            event.set()
            await task

    asyncio.run(main())
    assert results == ["hello"]


def test_threads_do_not_see_each_others_captures():
    greeter = Greeter()
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def captured():
        with capture({(greeter, "hello"): tagged("thread")}):
            seen["thread"] = greeter.hello()
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=captured)
    thread.start()
    inside.wait(10)
    seen["main"] = greeter.hello()
    release.set()
    thread.join()
    assert seen == {"thread": "thread:hello", "main": "hello"}


def test_an_error_restores_what_the_object_had():
    greeter = Greeter()
    own = lambda: "own"  # noqa: E731
    greeter.hello = own
    with pytest.raises(RuntimeError), capture({(greeter, "hello"): tagged("x")}):
        assert greeter.hello() == "x:own"
        raise RuntimeError
    assert vars(greeter)["hello"] is own


# Quantized and rematerialised layers, against an analytic Grad-CAM: the head is
# global average pooling and a linear dense layer, so d score_k / d A[i, j, c] is
# W[c, k] / (h * w) and the map is sum_c W[c, k] A[..., c], divided by its largest
# magnitude (relu=False).

SIZE, CLASSES = 6, 3


def mixed_model(remat_scope=None, nested=False):
    """conv -> dense 'mix' on each position (the explained layer) -> pool -> linear."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    scope = keras.RematScope(**remat_scope) if remat_scope else _no_scope()
    with scope:
        if nested:
            block_in = keras.Input((SIZE, SIZE, 4))
            block = keras.Model(block_in, layers.Dense(5, activation="relu", name="mix")(block_in))
            x = block(x)
        else:
            x = layers.Dense(5, activation="relu", name="mix")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(CLASSES, name="out")(x))


class _no_scope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def analytic_maps(model, batch, class_ids):
    conv, mix = model.get_layer("conv"), _find(model, "mix")
    activations = keras.ops.convert_to_numpy(mix(conv(batch))).astype(np.float64)
    kernel = keras.ops.convert_to_numpy(model.get_layer("out").kernel).astype(np.float64)
    maps = np.einsum("nhwc,ck->nkhw", activations, kernel[:, class_ids])
    return maps / (np.abs(maps).max(axis=(-2, -1), keepdims=True) + 1e-7)


def _find(model, name):
    return next(layer for layer in model._flatten_layers() if layer.name == name)


def batch_of(count=2):
    return np.random.default_rng(0).uniform(0, 1, (count, SIZE, SIZE, 3)).astype(np.float32)


def test_a_quantized_layer_is_captured():
    model = mixed_model()
    model.get_layer("mix").quantize("int8")
    assert call_site(model.get_layer("mix")) == (model.get_layer("mix"), "quantized_call")
    batch = batch_of()
    for count in (1, 2):  # TensorFlow runs a first one-image call eagerly
        maps = camlens.Explainer(model, layer="mix", relu=False)(batch[:count], targets=[0, 2])
        np.testing.assert_allclose(
            maps.heatmaps, analytic_maps(model, batch[:count], [0, 2]), rtol=1e-4, atol=1e-5
        )
    assert "quantized_call" not in vars(model.get_layer("mix"))


@pytest.mark.parametrize(
    "scope, nested",
    [
        ({"mode": "full"}, False),
        ({"mode": "list_of_layers", "layer_names": ["mix"]}, False),
        ({"mode": "full"}, True),  # a rematerialised model around the layer
    ],
    ids=["full", "list_of_layers", "around"],
)
def test_a_rematerialised_layer_is_captured(scope, nested):
    model = mixed_model(scope, nested)
    assert _find(model, "mix")._remat_mode is not None
    batch = batch_of()
    layer = _find(model, "mix")
    for count in (1, 2):
        maps = camlens.Explainer(model, layer=layer, relu=False)(batch[:count], targets=[1])
        expected = analytic_maps(model, batch[:count], [1])
        np.testing.assert_allclose(maps.heatmaps, expected, rtol=1e-4, atol=1e-5)
    assert all("rematerialized_call" not in vars(layer) for layer in model._flatten_layers())


def test_layer_search_sees_a_quantized_layer_of_a_subclassed_model():
    class Mixer(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(4, 3, padding="same", activation="relu")
            self.mix = layers.Dense(5, activation="relu")
            self.pool = layers.GlobalAveragePooling2D()
            self.out = layers.Dense(CLASSES)

        def call(self, x):
            return self.out(self.pool(self.mix(self.conv(x))))

    model = Mixer()
    model(batch_of(1))
    model.mix.quantize("int8")
    recorded = []
    with capture({call_site(model.mix): on_output(lambda out: recorded.append(out) or out)}):
        model(batch_of(1))
    assert len(recorded) == 1 and tuple(recorded[0].shape) == (1, SIZE, SIZE, 5)
    explainer = camlens.Explainer(model)  # the last 4-D layer is the quantized one
    explainer(batch_of(1))
    assert explainer.layer is model.mix
