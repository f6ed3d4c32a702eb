"""The arrays concepts are learned from: one probe pass per batch, through an `Explainer`.

The layer's activations and the gradient of each image's class logit with
respect to them come from the same compiled probe the maps use (the explainer's
package-internal `probe_pass`), not from a second model. The audit takes them
from its maps' own pass where it can (`Explainer.logit_gradients`); a
`ConceptProbe` is the pass of its own, for `discover` and for methods without
gradients.
"""

from __future__ import annotations

import numpy as np

LOGIT = "logit"


class ConceptProbe:
    """Activations and class-logit gradients at one layer, for batches of images.

    Args:
        model: the Keras model.
        layer: the layer (as for `Explainer`); `None`: the automatic choice,
            or the one `settle` is given.
        score: `"logit"` (the score before the model's last softmax or sigmoid:
            a concept's importance is additive there) or `"output"`.
    """

    def __init__(self, model, layer=None, score: str = LOGIT):
        from ..api.explainer import Explainer

        self.explainer = Explainer(model, layer=layer, method="gradcam", score=score)

    @property
    def layer(self):
        """The layer the concepts live at."""
        return self.explainer.layer

    def settle(self, layer, output_index: int = 0) -> None:
        """Use `layer`'s tensor `output_index` unless one is chosen already (the
        audit's explained layer)."""
        self.explainer.settle_layer(layer, output_index)

    def prepare(self, images):
        return self.explainer.prepare(images)

    def __call__(self, prepared, classes, pad_to: int | None = None):
        """`(activations (N, *grid, C), gradients (N, *grid, C), classes (N,))` of
        prepared input; `classes` (N,) class ids, or `None` for the top prediction.

        Raises:
            ValueError: the layer's activations are negative somewhere (a
                non-negative factorisation cannot describe them).
        """
        targets = None if classes is None else np.asarray(classes, np.int64)
        _, result = self.explainer.probe_pass(prepared, targets, pad_to)
        layer = self.explainer.layer
        assert layer is not None, "the probe pass settled the layer"
        activations = checked_activations(result.activations, layer)
        return activations, np.asarray(result.gradients[:, 0], np.float32), result.targets[:, 0]


def checked_activations(activations, layer) -> np.ndarray:
    """The layer's activations as float32, refused where a non-negative
    factorisation cannot describe them.

    Raises:
        ValueError: the activations are negative somewhere.
    """
    activations = np.asarray(activations, np.float32)
    lowest = float(activations.min()) if activations.size else 0.0
    if lowest < 0:
        raise ValueError(
            "concepts factorise a layer's activations into non-negative parts, and "
            f"layer '{layer.name}' has negative activations (as low as {lowest:.3g}); "
            "explain a layer after a ReLU (e.g. a convolution with "
            f"activation='relu'). Received: layer={layer.name!r}"
        )
    return activations
