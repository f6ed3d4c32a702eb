"""The reusable explainer: resolves the layer once, reuses compiled probes."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from . import methods
from .explanation import Explanation, TargetExplanation, image_from_array
from .layers import graph_input_shape, resolve_layer
from .probe import probe_for
from .targets import ID, SIMILAR, TOP, OutputInfo, Slot, plan_targets
from .validation import check_images, check_model, check_options


@dataclass
class Maps:
    """Class activation maps for a batch of N images and K targets.

    Attributes:
        heatmaps: (N, K, h, w) float64, values in [0, 1] (in [-1, 1] with
            `relu=False`).
        targets: (N, K) the class id explained, -1 for callable targets.
        scores: (N, K) the explained score (the model output for the class,
            or the pre-activation score with `score="logit"`).
        outputs: (N, ...) the model's outputs (a list or dict of such arrays
            for a model with several outputs).
    """

    heatmaps: np.ndarray
    targets: np.ndarray
    scores: np.ndarray
    outputs: np.ndarray

    def to_explanations(self, images, target_names=None) -> list[Explanation]:
        """One `Explanation` per image, to draw with the formatters.

        Args:
            images: the N images shown under the maps: PIL images, or an
                (N, H, W, C) array (each image shifted to 0 and scaled to
                0..255, as `explain_prediction` does).
            target_names: class names for the captions, as in
                `format_targets_as_image`.

        Returns:
            N explanations, each with K targets (class id, score, heatmap);
            a callable target shows as class id -1.
        """
        if len(images) != len(self.heatmaps):
            raise ValueError(
                f"images must hold one image per map ({len(self.heatmaps)}). "
                f"Received: {len(images)} images"
            )
        return [
            Explanation(
                estimator="",
                image=image_from_array(image) if isinstance(image, np.ndarray) else image,
                targets=[
                    TargetExplanation(
                        target=int(self.targets[n, k]),
                        score=float(self.scores[n, k]),
                        heatmap=self.heatmaps[n, k],
                    )
                    for k in range(self.heatmaps.shape[1])
                ],
                target_names=target_names,
            )
            for n, image in enumerate(images)
        ]


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
        self._outputs: dict[tuple, list[OutputInfo]] = {}
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
                target object from `camlens.targets` (`Class`, `Region`,
                `Output`), a callable mapping the model output to one score per
                image, a list of those (one map per entry, in order), or an int
                array of class ids per image, (N,) or (N, K).

        Returns:
            `Maps` with heatmaps (N, K, h, w).
        """
        images = check_images(images, self.model, name="images")
        return self._explain_checked(images, targets)

    def _explain_checked(self, images: np.ndarray, targets, pad_to: int | None = None) -> Maps:
        """`__call__` for images already checked by `check_images`.

        `pad_to`: run the probe on a batch of this size (the last image repeated,
        the compiled shape), the methods on the N images only.
        """
        plan, result = self._probe_result(images, targets, pad_to)
        probe = probe_for(self.model, self._layer)
        sign = -1.0 if self.counterfactual else 1.0

        def masked_scores(n: int, batch: np.ndarray) -> np.ndarray:
            variants = plan.for_variants(n, result.targets[n], result.outputs, len(batch))
            return probe.scores(batch, variants, self.score)

        count = sum(slot.kind != SIMILAR for slot in plan.slots)  # then the compared classes
        gradients = comparisons = None
        if result.gradients is not None:
            gradients = sign * result.gradients[:, :count]
        if self.method.comparisons:
            compared = sign * result.gradients[:, count:]
            comparisons = compared.reshape((len(images), count, -1) + compared.shape[2:])
        inputs = methods.MethodInputs(
            activations=result.activations,
            gradients=gradients,
            images=images,
            sign=sign,
            masked_scores=masked_scores,
            mask_batch_size=self.mask_batch_size,
            target_count=count,
            comparison_gradients=comparisons,
        )
        return Maps(
            heatmaps=methods.compute(self.method, inputs, relu=self.relu),
            targets=result.targets[:, :count],
            scores=result.scores[:, :count],
            outputs=result.outputs,
        )

    def _probe_result(self, images: np.ndarray, targets, pad_to: int | None = None):
        """The target plan and the probe's arrays for checked images."""
        layer = self._layer_for(images.shape)
        shape = images.shape[1:]
        if shape not in self._outputs:
            self._outputs[shape] = _output_infos(self.model, images.shape)
        outputs = self._outputs[shape]
        plan = _with_comparisons(self.method, plan_targets(targets, outputs, len(images)), outputs)
        result = probe_for(self.model, layer).run(
            images, plan, self.score, gradients=self.method.gradients, pad_to=pad_to
        )
        return plan, result

    def _layer_for(self, input_shape: tuple) -> keras.layers.Layer:
        if self._layer is None:
            self._layer = resolve_layer(self.model, self._layer_argument, input_shape)
        return self._layer


def _with_comparisons(method, plan, outputs: list[OutputInfo]):
    """The plan with, after its slots, the classes each target is compared with."""
    if not method.comparisons:
        return plan
    by_class = all(slot.kind in (TOP, ID) and slot.output is None for slot in plan.slots)
    classes = outputs[0].shape[-1] if by_class and len(outputs[0].shape) == 1 else None
    if classes is None or classes < 2:
        raise ValueError(
            f"{method.title} compares a class's score with those of the most similar "
            "classes: it needs class ids as targets and a model with a (batch, classes) "
            f"output of at least 2 classes. Received: targets {plan.slots}, "
            f"{classes} classes"
        )
    ranks = range(min(method.comparisons, classes - 1))
    return plan.extended(
        tuple(Slot(SIMILAR, of=slot, rank=rank) for slot in range(len(plan.slots)) for rank in ranks)
    )


def _output_infos(model: keras.Model, input_shape: tuple) -> list[OutputInfo]:
    """The model's outputs, flattened in `keras.tree` order, with their names."""
    structure = model.compute_output_spec(keras.KerasTensor((1,) + tuple(input_shape[1:])))
    leaves = keras.tree.flatten(structure)
    if isinstance(structure, dict):
        names = sorted(structure)
    else:
        names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(leaves):
        names = [None] * len(leaves)
    return [OutputInfo(name, tuple(leaf.shape[1:])) for name, leaf in zip(names, leaves)]
