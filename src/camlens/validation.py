"""Checks of the arguments every entry point shares, one function per kind.

Each raises `TypeError` or `ValueError` naming the argument, what was received
and what was expected, before any backend work starts.
"""

from __future__ import annotations

import keras
import numpy as np

from .channels import is_channels_first
from .inspection import graph_input_shape
from .model_inputs import input_slots
from .integers import check_positive_int, is_integer
from .probe import LOGIT, OUTPUT


def check_model(model) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise TypeError(
            "model must be a Keras 3 model (keras.Model, keras.Sequential or a "
            f"subclass). Received: model of type {type(model).__name__}"
        )
    if not model.built:
        raise ValueError(
            f"model '{model.name}' is not built: it has no weights yet. Call it once "
            "on a batch, or give it a keras.Input, before explaining it."
        )
    is_channels_first(model)  # a ValueError for a model that mixes data formats
    return model


AXES = {
    3: "(batch, steps, channels)",
    4: "(batch, height, width, channels)",
    5: "(batch, depth, height, width, channels)",
}
"""The input layouts camlens explains, by rank: 1-D signals, images, volumes."""

NOUNS = {3: "signal", 4: "image", 5: "volume"}


def check_images(images, model: keras.Model | tuple | None, name: str = "doc", single: bool = False):
    """A float32 batch that fits `model`'s input: (N, H, W, C) images, (N, T, C)
    signals or (N, D, H, W, C) volumes, as the model's input rank says.

    One input without the batch axis (e.g. (H, W, C)) is accepted and given one;
    integer inputs (e.g. uint8) are accepted and converted to float32.

    Args:
        images: the array the user passed.
        model: the model it is for, or the shape of its input (one of
            several); `None` for images of any size (before a `preprocess`
            callable).
        name: the argument's name, for messages.
        single: require a batch of exactly one input (ELI5's `doc` contract).
    """
    if isinstance(model, tuple) or model is None:
        expected = model
    else:
        expected = graph_input_shape(model)
    rank = len(expected) if expected is not None else built_rank(model)
    noun = NOUNS.get(rank, "image")
    if not isinstance(images, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray of shape {AXES.get(rank, AXES[4])}. "
            f"Received: {name} of type {type(images).__name__}"
        )
    if images.dtype == bool or not np.issubdtype(images.dtype, np.number) or np.iscomplexobj(images):
        raise TypeError(
            f"{name} must hold real numbers (float or integer). "
            f"Received: {name}.dtype={images.dtype}"
        )
    if expected is not None and images.ndim == rank - 1 and _fits((1,) + images.shape, expected):
        images = images[None]  # one input without its batch axis
    elif expected is None and rank is not None and images.ndim == rank - 1 and single:
        images = images[None]  # one input of a subclassed model without its batch axis
    elif expected is None and rank is None and images.ndim == 3 and (single or model is None):
        images = images[None]  # one image without its batch axis
    ranks = (rank,) if rank is not None else (4,) if model is None else tuple(AXES)
    if images.ndim not in ranks:
        layouts = " or ".join(f"{r}-D {AXES.get(r, '')}".strip() for r in ranks)
        raise ValueError(
            f"{name} must be a {layouts} array, channels last"
            f"{_expected_text(expected)}. Received: {name}.shape={images.shape}"
        )
    if single and images.shape[0] != 1:
        raise ValueError(
            f"{name} must hold a batch of exactly one {noun}{_expected_text(expected)}. "
            f"Received: {name}.shape={images.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name} holds no {noun}. Received: {name}.shape={images.shape}")
    if expected is not None and not _fits(images.shape, expected):
        raise ValueError(
            f"{name} does not fit the model's input{_expected_text(expected)}. "
            f"Received: {name}.shape={images.shape}"
        )
    images = images.astype(np.float32, copy=False)
    if not np.isfinite(images).all():
        raise ValueError(f"{name} contains NaN or infinite values; expected finite numbers.")
    return images


def input_rank(explainer) -> int | None:
    """The rank of what an explainer takes (batch axis included): the model's
    input rank; `None` if unknown, before a `preprocess` callable, or for a
    model with several inputs."""
    if explainer.preprocess is not None or explainer._slots is not None:
        return None
    shape = graph_input_shape(explainer.model)
    return built_rank(explainer.model) if shape is None else len(shape)


def built_rank(model) -> int | None:
    """The input rank a model without a graph (subclassed) was built with, if it says."""
    if not isinstance(model, keras.Model):
        return None
    try:
        shape = (model.get_build_config() or {}).get("input_shape")
    except (AttributeError, NotImplementedError, TypeError):
        return None
    if isinstance(shape, (tuple, list)) and shape and all(d is None or isinstance(d, int) for d in shape):
        return len(shape) if len(shape) in AXES else None
    return None


def check_image_input(model: keras.Model, image_input, method):
    """The input slots of a multi-input model (`None` for one input), `image_input` checked."""
    slots = input_slots(model, image_input)
    if slots is not None and is_channels_first(model):
        raise ValueError(
            "camlens explains channels_first models with a single input; model "
            f"'{model.name}' has {len(slots.names)}. Received: model '{model.name}'"
        )
    if slots is not None and method.name == "guided-gradcam":
        raise ValueError(
            "Guided Grad-CAM differentiates with respect to the model's input, which "
            "camlens does for models with a single input only; model "
            f"'{model.name}' has {len(slots.names)}. Received: method='guided-gradcam'"
        )
    return slots


def check_image(image):
    """`None` or a PIL image."""
    from PIL import Image

    if image is not None and not isinstance(image, Image.Image):
        raise TypeError(
            "image must be a PIL.Image.Image or None. "
            f"Received: image of type {type(image).__name__}"
        )
    return image


def _fits(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(
        want is None or want == got for got, want in zip(shape[1:], expected[1:])
    )


def _expected_text(expected: tuple | None) -> str:
    if expected is None:
        return ""
    return f"; the model expects (batch, {', '.join(str(d) for d in expected[1:])})"


def check_output_index(output_index, layer) -> int:
    """The index of the explained tensor of a layer returning several."""
    if not is_integer(output_index):
        raise TypeError(
            f"output_index must be an integer. Received: output_index={output_index!r}"
        )
    if layer is None and output_index != 0:
        raise ValueError(
            "output_index picks a tensor of an explicitly chosen layer; pass layer= "
            f"too. Received: layer=None, output_index={output_index!r}"
        )
    return int(output_index)


def check_preprocess(preprocess):
    """`None` or a callable mapping an image batch to the model's input."""
    if preprocess is not None and not callable(preprocess):
        raise TypeError(
            "preprocess must be None or a callable taking the image batch, e.g. a "
            "keras-hub classifier's preprocessor. Received: preprocess of type "
            f"{type(preprocess).__name__}"
        )
    return preprocess


def check_options(method, relu, counterfactual, score, mask_batch_size) -> tuple:
    """`(relu, counterfactual, score, mask_batch_size)` checked for `method`."""
    for name, value in (("relu", relu), ("counterfactual", counterfactual)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False. Received: {name}={value!r}")
    if counterfactual and not method.class_specific:
        raise ValueError(
            f"{method.title} does not depend on the target, so it has no "
            f"counterfactual. Received: method={method.name!r}, counterfactual=True"
        )
    if score is None:
        score = method.score
    if score not in (OUTPUT, LOGIT):
        raise ValueError(
            f"score must be {OUTPUT!r}, {LOGIT!r} or None. Received: score={score!r}"
        )
    mask_batch_size = check_positive_int(mask_batch_size, "mask_batch_size")
    return bool(relu), bool(counterfactual), score, mask_batch_size


def check_smooth(method, smooth) -> str | None:
    """`None`, `"aug"`, or `"eigen"` for a method whose map is a sum over channels."""
    if smooth is not None and smooth not in ("aug", "eigen"):
        raise ValueError(f"smooth must be None, 'aug' or 'eigen'. Received: smooth={smooth!r}")
    if smooth == "eigen" and method.channel_terms is None:
        raise ValueError(
            "smooth='eigen' projects the terms a method sums over channels, and "
            f"{method.title} is not such a sum (Eigen-CAM, Eigen-Grad-CAM, KPCA-CAM "
            "and FEM project or threshold the activations themselves; Guided "
            "Grad-CAM multiplies by input gradients). Use smooth='aug' or None. "
            f"Received: method={method.name!r}, smooth='eigen'"
        )
    return smooth


def check_max_channels(method, max_channels) -> int | None:
    """`None`, or a positive int for a method that scores channels one by one."""
    if max_channels is None:
        return None
    if not method.channel_passes:
        raise ValueError(
            "max_channels applies to the methods that run a forward pass per channel "
            f"(Score-CAM, Ablation-CAM). Received: method={method.name!r}, "
            f"max_channels={max_channels!r}"
        )
    return check_positive_int(max_channels, "max_channels")
