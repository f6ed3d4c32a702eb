"""evaluate's rows: which Explainer options each method name stands for."""

import pytest

from camlens.metrics.evaluation import check_methods


def test_refinecam_rows_take_layers_and_the_others_layer():
    options = check_methods(["gradcam", "refinecam(GradCAM++)"], "late", ["early", "late"])
    assert options == {
        "gradcam": {"method": "gradcam", "layer": "late"},
        "refinecam(GradCAM++)": {
            "method": "gradcam++",
            "layers": ["early", "late"],
            "combine": "product",
        },
    }


@pytest.mark.parametrize(
    "methods, layers, words",
    [
        (["refinecam(gradcam)"], None, r"pass them as layers=\[...\]"),
        (["gradcam"], ["a", "b"], r"layers= is for RefineCAM's rows"),
        (["refinecam"], ["a", "b"], r"name it, e.g. methods=\['refinecam\(gradcam\+\+\)'\]"),
        (["refinecam(magic)"], ["a", "b"], r"method must be one of .* Received: method='magic'"),
    ],
)
def test_bad_rows(methods, layers, words):
    with pytest.raises(ValueError, match=words):
        check_methods(methods, None, layers)
