"""Snapshots of a model, to check that a call left it exactly as it was."""

import numpy as np

from support.models import images


def snapshot(model):
    predictions = np.asarray(model.predict(images(2, seed=5), verbose=0))  # first: predict caches
    return {
        "weights": [np.array(w) for w in model.get_weights()],
        "trainable": [(layer.name, layer.trainable) for layer in model._flatten_layers()],
        "attributes": [sorted(vars(layer)) for layer in model._flatten_layers()],
        "predictions": predictions,
    }


def assert_unchanged(before, after):
    for a, b in zip(before["weights"], after["weights"]):
        np.testing.assert_array_equal(a, b)
    assert before["trainable"] == after["trainable"]
    assert before["attributes"] == after["attributes"]
    np.testing.assert_array_equal(before["predictions"], after["predictions"])
