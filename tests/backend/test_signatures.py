"""The entry points that build an `Explainer` list its options, with its defaults."""

import inspect

import numpy as np
import pytest

import camlens
from camlens.metrics import randomization_check
from support.models import images


def _explainer_options() -> dict:
    parameters = inspect.signature(camlens.Explainer.__init__).parameters
    return {name: p.default for name, p in parameters.items() if name not in ("self", "model")}


@pytest.mark.parametrize(
    "entry_point", [camlens.explain_prediction, camlens.explain_batch, randomization_check]
)
def test_every_explainer_option_is_listed_with_its_default(entry_point):
    parameters = inspect.signature(entry_point).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for name, default in _explainer_options().items():
        assert name in parameters, f"{entry_point.__name__} lacks {name}="
        assert parameters[name].default == default, name


def test_randomization_check_takes_raw_images_through_preprocess(resnet):
    small = images(3, seed=5)
    raw = np.repeat(np.repeat(small, 2, axis=1), 2, axis=2) * 255.0

    def halve(batch):
        return np.asarray(batch)[:, ::2, ::2] / 255.0

    plain = randomization_check(resnet, small, layer="conv1")
    through = randomization_check(resnet, raw, layer="conv1", preprocess=halve)
    np.testing.assert_allclose(through.correlations, plain.correlations, atol=1e-6)
    assert through.randomized == plain.randomized


def test_randomization_check_checks_its_options(resnet):
    with pytest.raises(ValueError, match="mask_batch_size"):
        randomization_check(resnet, images(2), method="scorecam", mask_batch_size=0)
