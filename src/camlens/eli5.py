"""`import camlens.eli5`: ELI5's own entry points explain Keras 3 models with camlens.

ELI5 dispatches `eli5.explain_prediction` on the model's type; this module
registers camlens for `keras.Model`, so an unchanged ELI5 script runs on the
JAX and PyTorch backends and on nested models, and gets ELI5's own
`eli5.base.Explanation` back (fields filled as ELI5's Keras support fills them),
which `eli5.format_as_image` and `eli5.show_prediction` draw as before.

ELI5's Keras module (`eli5.keras`) imports TensorFlow and runs on it only. On
the other backends it is kept from loading when this module imports ELI5 for
the first time: importing TensorFlow would cost seconds and its start-up logs,
and, imported later, that module would take `keras.Model` back from camlens.
"""

from __future__ import annotations

import sys

import keras

from .api.prediction import explain_prediction as camlens_explain_prediction

if keras.backend.backend() != "tensorflow" and "eli5" not in sys.modules:
    sys.modules.setdefault("eli5.keras", None)  # type: ignore[arg-type]  # import then fails

import eli5  # noqa: E402  (after the guard above)
from eli5.base import Explanation, TargetExplanation  # noqa: E402

__all__ = ["explain_prediction_keras"]


@eli5.explain_prediction.register(keras.Model)
def explain_prediction_keras(
    model: keras.Model, doc, targets=None, layer=None, image=None, **options
) -> Explanation:
    """ELI5's `explain_prediction` for a Keras 3 model, computed by camlens.

    Args:
        model, doc, targets, layer, image: as in `camlens.explain_prediction`
            (ELI5's arguments, with camlens's wider choices: several targets,
            a single class id, callables).
        **options: camlens's `method`, `relu`, `counterfactual`, `score`,
            `mask_batch_size`, `target_names`.

    Returns:
        An `eli5.base.Explanation` with ELI5's fields: `estimator` (the model's
        name), `description`, `error=""`, `method`, `image` (PIL),
        `targets` (one `eli5.base.TargetExplanation` per target, with `target`,
        `score` and `heatmap` (h, w) in [0, 1]), `is_regression=False`,
        `highlight_spaces=None`.

    Raises:
        TypeError, ValueError: for bad arguments, as `camlens.explain_prediction`.
    """
    expl = camlens_explain_prediction(
        model, doc, image=image, targets=targets, layer=layer, **options
    )
    return Explanation(
        expl.estimator,
        description=expl.description,
        error=expl.error,
        method=expl.method,
        image=expl.image,
        targets=[
            TargetExplanation(target.target, score=target.score, heatmap=target.heatmap)
            for target in expl.targets
        ],
        is_regression=False,
        highlight_spaces=None,
    )
