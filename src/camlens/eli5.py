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

ELI5's error contract is kept: where ELI5 0.16 returns an `Explanation` whose
`error` says the model is not supported (no `image` given, and the doc is not an
image batch or the model has no image layer), so does the bridge, for the cases
camlens cannot explain either: the doc is not a batch of the model's inputs of
image rank (e.g. shape (5, 5)), the model's input is not an image, a signal or a
volume (e.g. `Sequential([Input((5,)), Dense(3)])`), or it has no layer with a
spatial output for the automatic choice. Everything else ELI5 raises for (a
doc of the wrong size or batch, a bad target or layer) still raises, with
camlens's message; camlens's own `explain_prediction` raises in every case.
"""

from __future__ import annotations

import sys

import keras
import numpy as np

from .api.prediction import explain_prediction as camlens_explain_prediction
from .model.inputs import AXES, input_rank
from .model.layer_choice import NoSpatialLayerError

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

        Where ELI5 reports a model as not supported and camlens cannot explain
        it either (see the module's docstring): an `Explanation` with only
        `estimator` and `error` set, as ELI5 returns.

    Raises:
        TypeError, ValueError: for bad arguments, as `camlens.explain_prediction`.
    """
    reason = None if image is not None else _not_an_image_batch(model, doc, options)
    if reason is None:
        try:
            expl = camlens_explain_prediction(
                model, doc, image=image, targets=targets, layer=layer, **options
            )
        except NoSpatialLayerError:
            if image is not None:
                raise
            reason = "it has no layer with a spatial output to explain"
    if reason is not None:
        return Explanation(model.name, error=f'model "{model.name}" is not supported: {reason}.')
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


def _not_an_image_batch(model, doc, options: dict) -> str | None:
    """Why `doc` is not a batch camlens explains for `model`, as ELI5 would say
    "not supported"; `None` where it may be (camlens checks the rest)."""
    if not isinstance(doc, np.ndarray) or not isinstance(model, keras.Model):
        return None  # camlens says what it expected
    if options.get("image_input") is not None:
        return None  # several inputs: a list or dict of them
    try:
        rank = input_rank(model, options.get("preprocess"))
    except ValueError:  # several inputs without image_input: camlens says so
        return None
    if rank is not None and rank not in AXES:
        return (
            f"its input has {rank} axes, (batch, features): camlens explains "
            f"images {AXES[4]}, signals {AXES[3]} and volumes {AXES[5]}"
        )
    ranks = tuple(AXES) if rank is None else (rank, rank - 1)  # with or without the batch
    if doc.ndim not in ranks:
        return (
            f"doc of shape {doc.shape} is not a batch of its inputs, images {AXES[4]}, "
            f"signals {AXES[3]} or volumes {AXES[5]}"
        )
    return None
