"""ELI5's entry points: `explain_prediction`, `show_prediction`, `gradcam_backend`."""

from __future__ import annotations

import keras
import numpy as np

from ..checks import check_image
from ..model.inputs import as_model_inputs, check_images
from ..targets import Prompt
from .explainer import Explainer
from .planning import target_of
from .results import Explanation, TargetExplanation, image_from_array

FORMAT_ARGUMENTS = ("resampling_filter", "colormap", "alpha_limit", "diverging_colormap")

DESCRIPTION = (
    "{method} visualization for image classification; output is an explanation "
    "object that contains the input image and a heatmap for each target."
)


DETECTION_DESCRIPTION = (
    "{method} visualization for object detection; output is an explanation object "
    "that contains the input image and, for each detection, its box and heatmap."
)


def explain_prediction(
    model: keras.Model,
    doc: np.ndarray,
    image=None,
    targets=None,
    layer=None,
    method: str = "gradcam",
    target_names=None,
    relu: bool = True,
    counterfactual: bool = False,
    score: str | None = None,
    mask_batch_size: int = 64,
    token_grid: tuple[int, int] | None = None,
    prefix_tokens: int | None = None,
    output_index: int = 0,
    preprocess=None,
    max_channels: int | None = None,
    smooth: str | None = None,
    layers=None,
    combine: str = "mean",
    image_input=None,
    constant_inputs=None,
    detector=None,
) -> Explanation:
    """Explain a Keras image classifier's prediction for one image.

    Args:
        model: a built Keras 3 model (Functional, Sequential, subclassed, or one
            with a base model nested inside).
        doc: (1, H, W, C) numpy array, channels last, as the model takes it
            (or as `preprocess` takes it); (1, T, C) for a model of 1-D
            signals (Conv1D), (1, D, H, W, C) for one of volumes (Conv3D).
        image: the PIL image to show the heatmap over; derived from `doc` when
            `None` (shifted so that its minimum is not below 0, scaled to 0..255,
            L / RGB / RGBA by channel count; the raw doc with `preprocess`).
        targets: `None` for the top prediction, or a list of class ids (one
            `TargetExplanation` each, in order). Beyond ELI5: a single id,
            target objects of `camlens.targets` (e.g. `Prompt`s for an
            image–text backbone), or callables mapping the model output to one
            score per image.
        layer: a layer of the model, its name, an index into `model.layers`, or
            `None` for the automatic choice (see `Explainer`).
        method: `"gradcam"` (default), `"gradcam++"`, `"scorecam"`,
            `"layercam"`, `"xgradcam"`, `"hirescam"`, `"eigencam"`, or another
            name of `camlens.methods.METHODS` (the README's methods table).
        target_names: class names (a sequence indexed by class id, or a
            mapping) kept on the explanation for display.
        relu: as in `Explainer`, and so are `counterfactual`, `score`,
            `mask_batch_size`, `token_grid`, `prefix_tokens`, `output_index`,
            `preprocess`, `max_channels`, `smooth`, `layers`, `combine`,
            `detector`, `image_input` and `constant_inputs` (with
            `image_input`, `doc` is a list or dict of the model's inputs, each
            with a batch of one, and `image` defaults to the image input's;
            constant inputs have any number of rows).

    Returns:
        `Explanation` with `image` and `targets`; each target has `target`,
        `score` (the model output for it) and `heatmap` (h, w) in [0, 1]
        ((t,) for a 1-D input, (d, h, w) for a 3-D one, whose `image` is then
        the doc's array).

    Example:
        >>> expl = camlens.explain_prediction(model, x[None], targets=[281])
        >>> expl.targets[0].heatmap.shape   # the layer's spatial size
    """
    explainer = Explainer(
        model,
        layer=layer,
        method=method,
        relu=relu,
        counterfactual=counterfactual,
        score=score,
        mask_batch_size=mask_batch_size,
        token_grid=token_grid,
        prefix_tokens=prefix_tokens,
        output_index=output_index,
        preprocess=preprocess,
        max_channels=max_channels,
        smooth=smooth,
        layers=layers,
        combine=combine,
        image_input=image_input,
        constant_inputs=constant_inputs,
        detector=detector,
    )
    image = check_image(image)
    if image is None and preprocess is not None and explainer.image_slots is None:
        image = image_from_doc(check_images(doc, None, name="doc", single=True))
    doc = explainer.prepare(doc, name="doc", single=True)
    maps = explainer.explain_prepared(doc, targets)
    image = image if image is not None else image_from_doc(as_model_inputs(doc).image)
    return explanation_from_maps(explainer, maps, 0, image, targets, target_names)


def show_prediction(model: keras.Model, doc: np.ndarray, **kwargs):
    """Explain a prediction and draw it: ELI5's `show_prediction`.

    Keyword arguments of `format_as_image` (`resampling_filter`, `colormap`,
    `alpha_limit`, `diverging_colormap`) go to the formatter, the others to
    `explain_prediction`. One target without `target_names` gives ELI5's overlay;
    several targets, class names, or a prompt give one captioned panel per target.

    Returns:
        A PIL image, which a notebook displays.
    """
    from ..formatters import format_as_image, format_targets_as_image

    format_kwargs = {key: kwargs.pop(key) for key in FORMAT_ARGUMENTS if key in kwargs}
    expl = explain_prediction(model, doc, **kwargs)
    named = expl.target_names is not None or isinstance(expl.targets[0].target, Prompt)
    if len(expl.targets) == 1 and not named:
        return format_as_image(expl, **format_kwargs)
    return format_targets_as_image(expl, target_names=expl.target_names, **format_kwargs)


def gradcam_backend(model: keras.Model, doc: np.ndarray, targets, activation_layer):
    """ELI5's low-level Grad-CAM terms for one image and one target.

    Args:
        model: a built Keras 3 model.
        doc: (1, H, W, C) input.
        targets: `None` for the top prediction, or a list of one class id.
        activation_layer: the layer to differentiate with respect to (an
            instance, name or index, as `layer` in `explain_prediction`).

    Returns:
        `(weights, activations, gradients, predicted_idx, predicted_val)`:
        weights (C,) the mean gradient per channel, activations (h, w, C),
        gradients (h, w, C), the class id (int) and its score (float).
    """
    if isinstance(targets, list) and len(targets) != 1:
        raise ValueError(
            "gradcam_backend explains one target; pass a list of one class id or "
            f"None. Received: targets={targets!r}"
        )
    if targets is not None and not isinstance(targets, list):
        raise TypeError(
            f"targets must be a list of one class id or None. Received: targets={targets!r}"
        )
    explainer = Explainer(model, layer=activation_layer)
    doc = explainer.prepare(doc, name="doc", single=True)
    _, result = explainer.probe_pass(doc, targets)
    gradients = result.gradients[0, 0]
    return (
        gradients.mean(axis=tuple(range(gradients.ndim - 1))),
        result.activations[0],
        gradients,
        int(result.targets[0, 0]),
        float(result.scores[0, 0]),
    )


def explanation_from_maps(
    explainer: Explainer, maps, index: int, image, targets=None, target_names=None
) -> Explanation:
    """The `Explanation` of image `index` of the `maps` that `explainer` computed.

    Args:
        explainer: the `Explainer` that computed `maps` (its model, method, layer).
        maps: `Maps` with heatmaps (N, K, h, w).
        index: which of the N images.
        image: the PIL image to draw on.
        targets: the `targets` asked for (callables are kept as the target).
        target_names: class names kept for display.
    """
    if maps.boxes is not None:  # a detector's: one target per detection of this image
        explained_targets = maps.target_explanations(index)
        layer = ", ".join(maps.layers or [])
        description = DETECTION_DESCRIPTION.format(method=explainer.method.title)
    else:
        explained_targets = [
            TargetExplanation(
                target=_target_of(targets, slot, int(maps.targets[index, slot])),
                score=float(maps.scores[index, slot]),
                heatmap=maps.heatmaps[index, slot],
            )
            for slot in range(maps.heatmaps.shape[1])
        ]
        layer = ", ".join(layer.name for layer in explainer.layers)
        description = DESCRIPTION.format(method=explainer.method.title)
    return Explanation(
        estimator=explainer.model.name,
        description=description,
        error="",
        method=explainer.method.title,
        image=image,
        targets=explained_targets,
        layer=layer,
        target_names=target_names,
        input_size=maps.input_size,
    )


def image_from_doc(doc: np.ndarray):
    """The PIL image of a (1, H, W, C) doc, as ELI5 derived it with Keras; a 1-D
    signal (1, T, C) or a volume (1, D, H, W, C) stays an array, (T, C) or
    (D, H, W, C), which the formatters draw as such."""
    return image_from_array(doc[0]) if doc.ndim == 4 else np.array(doc[0])


def _target_of(targets, slot: int, class_id: int):
    """What `TargetExplanation.target` holds: a class id, or the target object or callable."""
    if isinstance(targets, list):
        return target_of(targets[slot], class_id)
    if isinstance(targets, np.ndarray):
        return class_id
    return target_of(targets, class_id)
