"""The reusable explainer: resolves the layer once, reuses compiled probes."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from . import methods
from .layers import graph_input_shape, resolve_layer
from .probe import ID, Similar, probe_for
from .validation import check_images, check_model, check_options, check_targets


@dataclass
class Maps:
    """Class activation maps for a batch of N images and K targets.

    Attributes:
        heatmaps: (N, K, h, w) float64, values in [0, 1] (in [-1, 1] with
            `relu=False`).
        targets: (N, K) the class id explained, -1 for callable targets.
        scores: (N, K) the explained score (the model output for the class,
            or the pre-activation score with `score="logit"`).
        outputs: (N, ...) the model's outputs.
    """

    heatmaps: np.ndarray
    targets: np.ndarray
    scores: np.ndarray
    outputs: np.ndarray


class Explainer:
    """Explains a model's predictions with one method at one layer.

    Creating one is cheap; the compiled computation behind it is cached per model
    and layer (for as long as the model lives) and traced once per input shape,
    so many calls, or many explainers of the same model, cost about one forward
    and backward pass each.

    Args:
        model: a built Keras 3 model taking one image batch, channels last.
        layer: a layer of `model` (nested models included), its name, an index
            into `model.layers`, or `None` for the last layer with a 4-D output.
        method: `"gradcam"` (default), `"gradcam++"`, `"scorecam"`,
            `"layercam"`, `"xgradcam"`, `"hirescam"`, `"eigencam"`, or another
            name of `camlens.methods.METHODS` (the README's methods table).
        relu: `False` keeps negative evidence: maps are then divided by their
            largest magnitude, values in [-1, 1], negative where a region lowers
            the score.
        counterfactual: explain what speaks against each target (the negated
            score, Selvaraju et al.'s counterfactual explanation).
        score: `"output"` explains the model's output (post-softmax for a model
            ending in softmax), `"logit"` the score before its last activation,
            read during the forward pass without changing the model; `None`
            uses the method's own choice ("logit" for Grad-CAM++, whose closed
            form needs it, else "output").
        mask_batch_size: masked images per forward pass (Score-CAM only).

    Example:
        >>> explainer = camlens.Explainer(model, layer="last_conv")
        >>> maps = explainer(images, targets=[3, 5])   # images (N, H, W, C)
        >>> maps.heatmaps.shape                        # (N, 2, h, w)
    """

    def __init__(
        self,
        model: keras.Model,
        layer=None,
        method: str = "gradcam",
        relu: bool = True,
        counterfactual: bool = False,
        score: str | None = None,
        mask_batch_size: int = 64,
    ):
        self.model = check_model(model)
        self.method = methods.get_method(method)
        self.relu, self.counterfactual, self.score, self.mask_batch_size = check_options(
            self.method, relu, counterfactual, score, mask_batch_size
        )
        self._layer_argument = layer
        self._layer = None
        self._num_classes: dict[tuple, int | None] = {}
        input_shape = graph_input_shape(model)
        if input_shape is not None:
            self._layer = resolve_layer(model, layer, input_shape)

    @property
    def layer(self) -> keras.layers.Layer | None:
        """The layer explained; for subclassed models, known after the first call."""
        return self._layer

    def __call__(self, images: np.ndarray, targets=None) -> Maps:
        """Maps for a batch of images.

        Args:
            images: (N, H, W, C) array fitting the model's input.
            targets: `None` for each image's top prediction, a class id, a
                callable mapping the model output to one score per image, or a
                list of those (one map per entry, in order).

        Returns:
            `Maps` with heatmaps (N, K, h, w).
        """
        images = check_images(images, self.model, name="images")
        return self._explain_checked(images, targets)

    def _explain_checked(self, images: np.ndarray, targets) -> Maps:
        """`__call__` for images already checked by `check_images`."""
        layout, result = self._probe_result(images, targets)
        probe = probe_for(self.model, self._layer)
        sign = -1.0 if self.counterfactual else 1.0

        def masked_scores(n: int, batch: np.ndarray) -> np.ndarray:
            slots = tuple(kind if callable(kind) else ID for kind in layout)
            ids = result.targets[n].astype(np.int32)
            return probe.scores(batch, slots, ids, self.score)

        count = len(layout)  # the slots after these hold the compared classes
        comparisons = result.gradients[:, count:]
        inputs = methods.MethodInputs(
            activations=result.activations,
            gradients=sign * result.gradients[:, :count],
            images=images,
            sign=sign,
            masked_scores=masked_scores,
            mask_batch_size=self.mask_batch_size,
            comparison_gradients=sign
            * comparisons.reshape((len(images), count, -1) + comparisons.shape[2:]),
        )
        return Maps(
            heatmaps=methods.compute(self.method, inputs, relu=self.relu),
            targets=result.targets[:, :count],
            scores=result.scores[:, :count],
            outputs=result.outputs,
        )

    def _probe_result(self, images: np.ndarray, targets):
        """The target layout and the probe's arrays for checked images."""
        layer = self._layer_for(images.shape)
        shape = images.shape[1:]
        if shape not in self._num_classes:
            self._num_classes[shape] = _num_classes(self.model, images.shape)
        layout, ids = check_targets(targets, self._num_classes[shape])
        slots, slot_ids = _with_comparisons(self.method, layout, ids, self._num_classes[shape])
        return layout, probe_for(self.model, layer).run(images, slots, slot_ids, self.score)

    def _layer_for(self, input_shape: tuple) -> keras.layers.Layer:
        if self._layer is None:
            self._layer = resolve_layer(self.model, self._layer_argument, input_shape)
        return self._layer


def _with_comparisons(method, layout: tuple, ids: np.ndarray, num_classes: int | None):
    """The target slots with, after them, the classes each target is compared with."""
    if not method.comparisons:
        return layout, ids
    if any(callable(kind) for kind in layout) or num_classes is None or num_classes < 2:
        raise ValueError(
            f"{method.title} compares a class's score with those of the most similar "
            "classes: it needs class ids as targets and a model with a (batch, classes) "
            f"output of at least 2 classes. Received: targets with layout {layout}, "
            f"{num_classes} classes"
        )
    ranks = range(min(method.comparisons, num_classes - 1))
    extra = tuple(Similar(of=slot, rank=rank) for slot in range(len(layout)) for rank in ranks)
    return layout + extra, np.concatenate([ids, np.zeros(len(extra), np.int32)])


def _num_classes(model: keras.Model, input_shape: tuple) -> int | None:
    """The size of the class axis of a (batch, classes) output, else `None`."""
    if graph_input_shape(model) is not None:
        outputs = model.outputs
    else:
        outputs = [model.compute_output_spec(keras.KerasTensor((1,) + input_shape[1:]))]
    if len(outputs) != 1 or not hasattr(outputs[0], "shape") or len(outputs[0].shape) != 2:
        return None
    return outputs[0].shape[-1]
