"""Fixtures shared by every tier; what they build lives in `support/`."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from support.models import MODEL_BUILDERS, functional_resnet, images

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items):
    """The end-to-end tier is slow by nature: `pytest -m "not slow"` (the edit-test
    loop) runs the unit and backend tiers."""
    for item in items:
        if E2E in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=sorted(MODEL_BUILDERS))
def any_model(request) -> keras.Model:
    """The same residual net as each kind of Keras model."""
    return MODEL_BUILDERS[request.param]()


@pytest.fixture
def resnet() -> keras.Model:
    return functional_resnet()


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.keras"
    functional_resnet().save(path)
    return path


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "photo.png"
    pixels = (images(1, seed=3)[0] * 255).astype(np.uint8)
    Image.fromarray(pixels).resize((48, 36)).save(path)
    return path


# keras-hub models built once per test run from small configs (seeded random
# weights): the tests that take them only read them. A test that changes a
# model builds its own.


@pytest.fixture(scope="session")
def vit():
    pytest.importorskip("keras_hub")
    from support import hub

    return hub.vit()


@pytest.fixture(scope="session")
def deit():
    pytest.importorskip("keras_hub")
    from support import hub

    return hub.deit()


@pytest.fixture(scope="session")
def swin():
    pytest.importorskip("keras_hub")
    from support import hub

    return hub.swin()


@pytest.fixture(scope="session")
def demo_model():
    """The shipped demo model, loaded once; the tests that take it only read it."""
    from camlens.demo import load_demo_model

    return load_demo_model()


@pytest.fixture(scope="session")
def retinanet():
    """keras-hub's RetinaNet from a small config (128x128, 3 classes), read-only."""
    pytest.importorskip("keras_hub")
    from support import detectors

    return detectors.retinanet()


@pytest.fixture(scope="session")
def centernet():
    """A CenterNet-style detector of one's own (outputs "boxes" and "classes"), read-only."""
    from support import detectors

    return detectors.centernet()


@pytest.fixture(scope="session")
def dfine():
    """keras-hub's D-FINE from a small config (128x128, 3 classes, 20 queries), read-only."""
    pytest.importorskip("keras_hub")
    from support import detectors

    return detectors.dfine()
