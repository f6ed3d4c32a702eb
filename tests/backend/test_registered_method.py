"""A method a user registers works wherever camlens takes a method name: the
Explainer, explain_methods, `camlens evaluate` and `camlens explain --plugin`."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import camlens
from camlens.metrics import evaluate
from support.cli import run
from support.method_references import TARGET, combine, normalized, reference_terms

PLUGIN = """
import camlens


def gradient_max(inputs):
    gradients = inputs.gradients
    return gradients.max(axis=tuple(range(2, gradients.ndim - 1)))


camlens.methods.register("gradient-max", gradient_max, title="Gradient max")
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A module that registers "gradient-max" when imported, as a user's would."""
    (tmp_path / "my_methods.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_methods"
    sys.modules.pop("my_methods", None)
    camlens.methods.unregister("gradient-max")


def reference():
    """The map of gradient-max on the numpy net: channel weights max_ij g, summed."""
    doc, a, g = reference_terms("output")
    return doc, normalized(combine(a, g.max(axis=(0, 1))))


def test_the_explainer_and_explain_methods_use_it(plugin, resnet):
    __import__(plugin)
    doc, expected = reference()
    maps = camlens.Explainer(resnet, layer="conv1", method="gradient-max")(doc, targets=[TARGET])
    np.testing.assert_allclose(maps.heatmaps[0, 0], expected, atol=2e-5)
    together = camlens.explain_methods(
        resnet, doc, methods=["gradcam", "gradient-max"], targets=[TARGET], layer="conv1"
    )
    np.testing.assert_allclose(together["gradient-max"].heatmaps[0, 0], expected, atol=2e-5)
    expl = camlens.explain_prediction(
        resnet, doc, targets=[TARGET], layer="conv1", method="gradient-max", smooth="eigen"
    )
    assert expl.method == "Gradient max" and expl.targets[0].heatmap.max() > 0.5


def test_evaluate_rates_it_beside_the_built_in_ones(plugin, resnet):
    __import__(plugin)
    doc, _ = reference()
    result = evaluate(
        resnet,
        np.repeat(doc, 2, axis=0),
        methods=["gradcam", "gradient-max"],
        layer="conv1",
        steps=2,
        randomization_images=1,
    )
    assert [row.method for row in result.rows] == ["gradcam", "gradient-max", "random"]
    assert 0 <= result.rows[1].deletion_auc <= 1


def test_the_command_line_loads_it_with_plugin(plugin, capsys, tmp_path, model_file, image_file):
    out = tmp_path / "out.png"
    status, stdout, stderr = run(
        capsys,
        "explain",
        model_file,
        image_file,
        "--out",
        out,
        "--plugin",
        plugin,
        "--method",
        "gradient-max",
        "--layer",
        "conv1",
    )
    assert status == 0, stderr
    assert "method Gradient max" in stdout and out.exists()
    status, _, stderr = run(
        capsys,
        "explain",
        model_file,
        image_file,
        "--out",
        out,
        "--plugin",
        "no_such_module_here",
        "--method",
        "gradcam",
    )
    assert status == 2 and "--plugin no_such_module_here" in stderr
