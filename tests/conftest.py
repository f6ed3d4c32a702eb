"""The fixtures shared by the tests; what they build lives in `helpers.py`."""

from __future__ import annotations

import keras
import pytest

from helpers import MODEL_BUILDERS, functional_resnet


@pytest.fixture(params=sorted(MODEL_BUILDERS))
def any_model(request) -> keras.Model:
    """The same residual net as each kind of Keras model."""
    return MODEL_BUILDERS[request.param]()


@pytest.fixture
def resnet() -> keras.Model:
    return functional_resnet()
