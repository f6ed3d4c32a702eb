"""Models with an image input beside others (e.g. an image and tabular metadata).

The map is for one input, the image input (`image_input=`: an index into
`model.inputs` or an input's name; by default the only input of image rank,
three axes or more). The other inputs go with it unchanged: every pass the
methods run on variants of an image (masked, ablated, flipped) gets the other
inputs of that image. `ModelInputs` is one batch of all inputs; a model with a
single input is the case with no others.

The checks of a doc against the model's input live here too: one function per
kind of argument (`check_model`, `check_images`, `check_image_input`), used by
every entry point.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..checks import is_integer
from .channels import is_channels_first, to_channels_last
from .inspection import graph_input_shape


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


@dataclass(frozen=True)
class InputSlots:
    """A multi-input model's inputs, in `model.inputs` order.

    Attributes:
        names: each input's name.
        shapes: each input's shape, batch axis included.
        image: the index of the explained (image) input.
        as_dict: whether the model takes its inputs as a dict by name.
    """

    names: tuple
    shapes: tuple
    image: int
    as_dict: bool

    def structure(self, arrays: list):
        """The model's own input structure (a list, or a dict by name) of `arrays`."""
        return dict(zip(self.names, arrays)) if self.as_dict else list(arrays)


def input_slots(model, image_input) -> InputSlots | None:
    """The input slots of a model with several inputs, `None` for a single input.

    Raises:
        TypeError, ValueError: naming `image_input`, when it is not an index or
            a name of one of the model's inputs, or when it is `None` and the
            model has no single input of image rank.
    """
    if image_input is not None and (
        isinstance(image_input, bool)
        or not (is_integer(image_input) or isinstance(image_input, str))
    ):
        raise TypeError(
            "image_input must be None, an index into model.inputs or an input's name. "
            f"Received: image_input={image_input!r} of type {type(image_input).__name__}"
        )
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        inputs = []
    names = tuple(tensor.name for tensor in inputs)
    if len(inputs) <= 1:
        if image_input not in (None, 0, -1, *names):
            raise ValueError(
                f"image_input picks one of a model's several inputs; model '{model.name}' "
                f"has {len(inputs) or 'one'} input{'s' if len(inputs) > 1 else ''}"
                f"{' named ' + repr(names[0]) if names else ''}. "
                f"Received: image_input={image_input!r}"
            )
        return None
    shapes = tuple(tuple(tensor.shape) for tensor in inputs)
    if image_input is None:
        images = [index for index, shape in enumerate(shapes) if len(shape) >= 3]
        if len(images) != 1:
            raise ValueError(
                f"model '{model.name}' has {len(inputs)} inputs, {len(images)} of image "
                f"rank (3 axes or more): pass image_input= with the index or name of "
                f"the one to explain, one of {list(names)}. Received: image_input=None"
            )
        index = images[0]
    elif isinstance(image_input, str):
        if image_input not in names:
            raise ValueError(
                f"model '{model.name}' has no input named {image_input!r}; its inputs "
                f"are {list(names)}. Received: image_input={image_input!r}"
            )
        index = names.index(image_input)
    else:
        if not -len(inputs) <= image_input < len(inputs):
            raise ValueError(
                f"image_input={image_input} is out of range for model '{model.name}', "
                f"which has {len(inputs)} inputs {list(names)}. Received: "
                f"image_input={image_input!r}"
            )
        index = int(image_input) % len(inputs)
    if len(shapes[index]) < 3:
        raise ValueError(
            f"input {names[index]!r} of model '{model.name}' has shape {shapes[index]}: "
            "a map needs an input of image rank (batch, ..., channels). Received: "
            f"image_input={image_input!r}"
        )
    return InputSlots(names, shapes, index, isinstance(model.input, dict))


@dataclass(frozen=True)
class ModelInputs:
    """One batch of a model's inputs: the image explained and, for a model with
    several inputs, the others (`arrays`, in `slots` order)."""

    image: np.ndarray
    slots: InputSlots | None = None
    arrays: tuple = ()

    def feed(self, image: np.ndarray | None = None, rows=None):
        """What the model is called on: `image` (by default this batch's) in the
        image slot, the other inputs at `rows` (by default all, row for row)."""
        image = self.image if image is None else image
        if self.slots is None:
            return image
        arrays = [array if rows is None or array is None else array[rows] for array in self.arrays]
        arrays[self.slots.image] = image
        return self.slots.structure(arrays)

    def with_image(self, image: np.ndarray) -> ModelInputs:
        """The same batch with another image array of the same rows (e.g. flipped)."""
        return ModelInputs(image, self.slots, self.arrays)

    def rows(self, start: int, stop: int) -> ModelInputs:
        """Rows `start:stop` of every input."""
        return ModelInputs(
            self.image[start:stop],
            self.slots,
            tuple(None if a is None else a[start:stop] for a in self.arrays),
        )


def as_model_inputs(images) -> ModelInputs:
    """`images` as `ModelInputs`: an array is a single input's batch."""
    return images if isinstance(images, ModelInputs) else ModelInputs(images)


def check_model_inputs(doc, slots: InputSlots, check_image, name: str = "doc") -> ModelInputs:
    """A multi-input model's batch from `doc`, a list in `model.inputs` order or a
    dict by input name, each array checked against its input.

    Args:
        check_image: checks the image array against its input's shape and
            returns it as the methods take it (float32, channels last).
    """
    names = slots.names
    if isinstance(doc, dict):
        if set(doc) != set(names):
            raise ValueError(
                f"{name} must hold one array per input of the model, by name: "
                f"{list(names)}. Received: {name} with keys {sorted(doc)}"
            )
        arrays = [doc[key] for key in names]
    elif isinstance(doc, (list, tuple)):
        if len(doc) != len(names):
            raise ValueError(
                f"{name} must hold one array per input of the model, in order: "
                f"{list(names)}. Received: {name} with {len(doc)} entries"
            )
        arrays = list(doc)
    else:
        raise TypeError(
            f"the model has {len(names)} inputs {list(names)}: {name} must be a list "
            f"of arrays in that order or a dict by name. Received: {name} of type "
            f"{type(doc).__name__}"
        )
    image = check_image(arrays[slots.image], f"{name}[{names[slots.image]!r}]")
    checked: list[np.ndarray | None] = []
    for index, (array, shape) in enumerate(zip(arrays, slots.shapes)):
        if index == slots.image:
            checked.append(None)
            continue
        label = f"{name}[{names[index]!r}]"
        if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
            raise TypeError(
                f"{label} must be a numeric numpy.ndarray. Received: {type(array).__name__}"
            )
        if array.ndim == len(shape) - 1 and len(image) == 1:
            array = array[None]  # one row without its batch axis
        fits = array.ndim == len(shape) and all(
            want is None or want == got for got, want in zip(array.shape[1:], shape[1:])
        )
        if not fits or len(array) != len(image):
            raise ValueError(
                f"{label} must have shape (batch, {', '.join(str(d) for d in shape[1:])}) "
                f"with the image's {len(image)} rows. Received: {label}.shape={array.shape}"
            )
        checked.append(array)
    return ModelInputs(image, slots, tuple(checked))


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
