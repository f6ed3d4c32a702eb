"""The checks of a doc against the model's input: one function per kind of
argument (`check_model`, `check_images`, `check_image_input`), used by every
entry point, and `prepare_input`, which turns what the user passed into what
the model is called on.

A model with several inputs (an image beside tabular metadata, CLIP's images
beside its prompts' token ids) is described in `camlens.model.slots`, whose
structures are imported from here too.
"""

from __future__ import annotations

import keras
import numpy as np

from .channels import channels_last_shape, is_channels_first, to_channels_last
from .inspection import graph_input_shape
from .slots import (  # noqa: F401 (the multi-input structures, imported from here too)
    InputSlots,
    ModelInputs,
    as_model_inputs,
    check_model_inputs,
    input_slots,
)


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


def check_images(
    images, model: keras.Model | tuple | None, name: str = "doc", single: bool = False
):
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
    expected = model if isinstance(model, tuple) or model is None else graph_input_shape(model)
    rank = len(expected) if expected is not None else built_rank(model)
    noun = NOUNS.get(rank or 0, "image")
    if not isinstance(images, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray of shape {AXES.get(rank or 4, AXES[4])}. "
            f"Received: {name} of type {type(images).__name__}"
        )
    if (
        images.dtype == bool
        or not np.issubdtype(images.dtype, np.number)
        or np.iscomplexobj(images)
    ):
        raise TypeError(
            f"{name} must hold real numbers (float or integer). "
            f"Received: {name}.dtype={images.dtype}"
        )
    if (
        expected is not None
        and rank is not None
        and images.ndim == rank - 1
        and _fits((1,) + images.shape, expected)
    ):
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


def input_rank(model, preprocess=None, slots: InputSlots | None = None) -> int | None:
    """The rank of what an explainer of `model` takes (batch axis included): the
    model's input rank; `None` if unknown, before a `preprocess` callable, or for
    a model with several inputs (`slots`)."""
    if preprocess is not None or slots is not None:
        return None
    shape = graph_input_shape(model)
    return built_rank(model) if shape is None else len(shape)


def single_input_shape(model, slots: InputSlots | None) -> tuple | None:
    """The model's input shape, channels last (as camlens works), if it has a
    graph and one input (`slots` is `None`)."""
    if slots is not None:
        return None
    shape = graph_input_shape(model)
    return None if shape is None else channels_last_shape(shape, is_channels_first(model))


def built_rank(model) -> int | None:
    """The input rank a model without a graph (subclassed) was built with, if it says."""
    if not isinstance(model, keras.Model):
        return None
    try:
        shape = (model.get_build_config() or {}).get("input_shape")
    except (AttributeError, NotImplementedError, TypeError):
        return None
    if (
        isinstance(shape, (tuple, list))
        and shape
        and all(d is None or isinstance(d, int) for d in shape)
    ):
        return len(shape) if len(shape) in AXES else None
    return None


def check_image_input(model: keras.Model, image_input, method, constant_inputs=None):
    """The input slots of a multi-input model (`None` for one input), `image_input`
    and `constant_inputs` checked (see `camlens.model.slots`)."""
    slots = input_slots(model, image_input, constant_inputs)
    if slots is not None and is_channels_first(model):
        raise ValueError(
            "camlens explains channels_first models with a single input; model "
            f"'{model.name}' has {len(slots.names)}. Received: model '{model.name}'"
        )
    if slots is not None and method.input_gradients:
        raise ValueError(
            f"{method.title} differentiates with respect to the model's input, which "
            "camlens does for models with a single input only; model "
            f"'{model.name}' has {len(slots.names)}. Received: method={method.name!r}"
        )
    return slots


def _fits(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(
        want is None or want == got for got, want in zip(shape[1:], expected[1:])
    )


def _expected_text(expected: tuple | None) -> str:
    if expected is None:
        return ""
    return f"; the model expects (batch, {', '.join(str(d) for d in expected[1:])})"


def prepare_input(
    model, images, slots: InputSlots | None, preprocess, name: str = "images", single: bool = False
):
    """The model's input for `images`: checked, through `preprocess` if given;
    channels last (a channels_first model's inputs moved, see `channels`).

    Args:
        slots: the inputs of a model with several, else `None`.
        preprocess: a callable applied to the image batch first, or `None`.
        name: the argument's name, for messages.
        single: require a batch of exactly one input.

    Returns:
        The image array, or `ModelInputs` for a model with several inputs.
    """
    if slots is not None:

        def check_image(array, label):
            if preprocess is not None:
                array = keras.ops.convert_to_numpy(
                    preprocess(check_images(array, None, name=label, single=single))
                )
            return check_images(array, slots.shapes[slots.image], name=label, single=single)

        return check_model_inputs(images, slots, check_image, name=name)
    if preprocess is not None:
        raw = check_images(images, None, name=name, single=single)
        images = keras.ops.convert_to_numpy(preprocess(raw))
    images = check_images(images, model, name=name, single=single)
    return to_channels_last(images) if is_channels_first(model) else images
