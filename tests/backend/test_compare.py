"""explain_methods: every method's map from one probe pass, equal to one by one."""

import numpy as np
import pytest

import camlens
from camlens.api.many_methods import GRADIENT_METHODS
from camlens.probe.base import Probe
from support.models import images

SIX = ["gradcam", "layercam", "xgradcam", "hirescam", "eigengradcam", "gradcam-elementwise"]


def test_explain_methods_equals_the_methods_one_by_one(resnet):
    batch = images(2, seed=8)
    extra = ["scorecam", "ablationcam", "shapleycam", "guided-gradcam", "fullgrad"]
    names = list(GRADIENT_METHODS) + extra
    together = camlens.explain_methods(resnet, batch, methods=names, targets=[1, 3])
    assert list(together) == names
    for name in names:
        alone = camlens.Explainer(resnet, method=name)(batch, targets=[1, 3])
        np.testing.assert_allclose(together[name].heatmaps, alone.heatmaps, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(together[name].targets, alone.targets)
        np.testing.assert_allclose(together[name].scores, alone.scores, rtol=1e-6)


def test_six_gradient_methods_cost_one_probe_pass(resnet, monkeypatch):
    runs = []
    original = Probe.run
    monkeypatch.setattr(
        Probe, "run", lambda self, *a, **k: runs.append(1) or original(self, *a, **k)
    )
    maps = camlens.explain_methods(resnet, images(3), methods=SIX)
    assert len(runs) == 1
    assert all(maps[name].heatmaps.shape == (3, 1, 12, 12) for name in SIX)
    runs.clear()
    camlens.explain_methods(resnet, images(3), methods=SIX + ["gradcam++"])  # + the logit score
    assert len(runs) == 2


@pytest.mark.parametrize(
    "methods, error, words",
    [
        ("gradcam", TypeError, "list of method names"),
        ([], ValueError, "at least one"),
        (["gradcam", "gradcam"], ValueError, "repeat"),
        (["magic"], ValueError, "method must be one of"),
    ],
)
def test_bad_methods(resnet, methods, error, words):
    with pytest.raises(error, match=words):
        camlens.explain_methods(resnet, images(), methods=methods)


def test_counterfactual_refused_for_class_agnostic_methods(resnet):
    with pytest.raises(ValueError, match="counterfactual"):
        camlens.explain_methods(resnet, images(), methods=["gradcam", "fem"], counterfactual=True)


def test_max_channels_reaches_the_methods_that_take_it(resnet):
    batch = images(1, seed=5)
    together = camlens.explain_methods(
        resnet, batch, methods=["gradcam", "scorecam"], max_channels=2
    )
    alone = camlens.Explainer(resnet, method="scorecam", max_channels=2)(batch)
    full = camlens.Explainer(resnet, method="scorecam")(batch)
    np.testing.assert_allclose(together["scorecam"].heatmaps, alone.heatmaps, atol=1e-6)
    assert not np.allclose(alone.heatmaps, full.heatmaps, atol=1e-3)
