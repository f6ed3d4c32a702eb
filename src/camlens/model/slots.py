"""A model's several inputs: which one is the image, which go with it row for
row, and which stay the same for every image.

The map is for one input, the image input (`image_input=`: an index into
`model.inputs` or an input's name; by default the only input of image rank,
three axes or more). The other inputs go with it: every pass the methods run
on variants of an image (masked, ablated, flipped) gets the other inputs of
that image. An input named in `constant_inputs=` is not a row of the image
batch (CLIP's prompt token ids, a fixed query): it is passed as given, any
number of rows, the same for every image and every pass, never split, padded
or masked. `ModelInputs` is one batch of all inputs; a model with a single
input is the case with no others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import is_integer
from .inspection import Inspection, inspect


@dataclass(frozen=True)
class InputSlots:
    """A multi-input model's inputs, in `model.inputs` order.

    Attributes:
        names: each input's name.
        shapes: each input's shape, batch axis included.
        image: the index of the explained (image) input.
        as_dict: whether the model takes its inputs as a dict by name.
        constant: the indices of the inputs that are the same for every image.
    """

    names: tuple
    shapes: tuple
    image: int
    as_dict: bool
    constant: tuple = ()

    def structure(self, arrays: list):
        """The model's own input structure (a list, or a dict by name) of `arrays`."""
        return dict(zip(self.names, arrays)) if self.as_dict else list(arrays)

    def constant_keys(self) -> tuple:
        """The constant inputs as keys of `structure`: names, or list indices."""
        return tuple(self.names[i] if self.as_dict else i for i in self.constant)


def input_slots(model, image_input, constant_inputs=None) -> InputSlots | None:
    """The input slots of a model with several inputs, `None` for a single input.

    Raises:
        TypeError, ValueError: naming `image_input` or `constant_inputs`, when
            one is not an index or a name of one of the model's inputs, when
            `image_input` is `None` and the model has no single input of image
            rank, or when the image input is said to be constant.
    """
    if image_input is not None and not _is_key(image_input):
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
        if constant_inputs is not None:
            raise ValueError(
                "constant_inputs names inputs of a model with several, besides the "
                f"image; model '{model.name}' has one input. Received: "
                f"constant_inputs={constant_inputs!r}"
            )
        return None
    shapes = tuple(tuple(tensor.shape) for tensor in inputs)
    constant = _constant_indices(constant_inputs, names, model)
    if image_input is None:
        images = [i for i, shape in enumerate(shapes) if len(shape) >= 3]
        if len(images) > 1:
            images = [i for i in images if i not in constant]
        if len(images) != 1:
            raise ValueError(
                f"model '{model.name}' has {len(inputs)} inputs, {len(images)} of image "
                f"rank (3 axes or more): pass image_input= with the index or name of "
                f"the one to explain, one of {list(names)}. Received: image_input=None"
            )
        index = images[0]
    else:
        index = _index_of(image_input, names, model, "image_input")
    if len(shapes[index]) < 3:
        raise ValueError(
            f"input {names[index]!r} of model '{model.name}' has shape {shapes[index]}: "
            "a map needs an input of image rank (batch, ..., channels). Received: "
            f"image_input={image_input!r}"
        )
    if index in constant:
        raise ValueError(
            f"input {names[index]!r} is the image explained, so it cannot be constant: "
            "the image input has one row per image. Received: "
            f"image_input={image_input!r}, constant_inputs={constant_inputs!r}"
        )
    return InputSlots(names, shapes, index, isinstance(model.input, dict), constant)


@dataclass(frozen=True)
class ModelInputs:
    """One batch of a model's inputs: the image explained and, for a model with
    several inputs, the others (`arrays`, in `slots` order; `None` in the image's
    place)."""

    image: np.ndarray
    slots: InputSlots | None = None
    arrays: tuple = ()

    def for_probe(self):
        """What the probe takes: the image array of a single input, else this
        batch (the probe pads its per-image inputs, not its constant ones)."""
        return self.image if self.slots is None else self

    def structure(self):
        """The model's input structure of this batch (the image array for one input)."""
        if self.slots is None:
            return self.image
        arrays = list(self.arrays)
        arrays[self.slots.image] = self.image
        return self.slots.structure(arrays)

    def select(self, rows, image: np.ndarray | None = None) -> ModelInputs:
        """The images `image` (by default this batch's at `rows`) with the rows
        `rows` (an index array, `None` for all) of the other per-image inputs;
        the constant inputs kept as they are."""
        if image is None:
            image = self.image if rows is None else self.image[rows]
        if self.slots is None:
            return ModelInputs(image)
        arrays = tuple(
            array if rows is None or array is None or i in self.slots.constant else array[rows]
            for i, array in enumerate(self.arrays)
        )
        return ModelInputs(image, self.slots, arrays)

    def with_image(self, image: np.ndarray) -> ModelInputs:
        """The same batch with another image array of the same rows (e.g. flipped)."""
        return ModelInputs(image, self.slots, self.arrays)

    def with_input(self, index: int, array: np.ndarray) -> ModelInputs:
        """The same batch with input `index` (a constant one, say) set to `array`."""
        arrays = list(self.arrays)
        arrays[index] = array
        return ModelInputs(self.image, self.slots, tuple(arrays))

    def rows(self, start: int, stop: int) -> ModelInputs:
        """Images `start:stop` with their rows of every per-image input."""
        return self.select(np.arange(start, min(stop, len(self.image))))

    def padded(self, count: int) -> ModelInputs:
        """The batch with its last image (and its rows) repeated up to `count` images."""
        if count <= len(self.image):
            return self
        return self.select(np.minimum(np.arange(count), len(self.image) - 1))

    def call_shapes(self):
        """The shapes the model is called with: the image's, or (several inputs)
        the model's input structure of every input's shape."""
        if self.slots is None:
            return tuple(self.image.shape)
        arrays = list(self.arrays)
        arrays[self.slots.image] = self.image
        return self.slots.structure([tuple(np.shape(array)) for array in arrays])


def as_model_inputs(images) -> ModelInputs:
    """`images` as `ModelInputs`: an array is a single input's batch."""
    return images if isinstance(images, ModelInputs) else ModelInputs(images)


def inspect_inputs(model, batch) -> Inspection:
    """The model's inspection for a batch (an array, or `ModelInputs`): traced
    at every input's shape, the constant inputs at their full shape."""
    batch = as_model_inputs(batch)
    if batch.slots is None:
        return inspect(model, batch.image.shape)
    return inspect(
        model,
        batch.image.shape,
        call_shapes=batch.call_shapes(),
        constant=batch.slots.constant_keys(),
    )


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
        constant = index in slots.constant
        if array.ndim == len(shape) - 1 and len(image) == 1 and not constant:
            array = array[None]  # one row without its batch axis
        fits = array.ndim == len(shape) and all(
            want is None or want == got for got, want in zip(array.shape[1:], shape[1:])
        )
        dims = ", ".join(str(d) for d in shape[1:])
        if constant and (not fits or len(array) == 0):
            raise ValueError(
                f"{label} is a constant input, passed as the model takes it: shape "
                f"(rows, {dims}), the same for every image. Received: {label}.shape={array.shape}"
            )
        if not constant and (not fits or len(array) != len(image)):
            raise ValueError(
                f"{label} must have shape (batch, {dims}) with the image's {len(image)} "
                f"rows (or, if it is the same for every image, name it in "
                f"constant_inputs=). Received: {label}.shape={array.shape}"
            )
        checked.append(array)
    return ModelInputs(image, slots, tuple(checked))


def _is_key(value) -> bool:
    return not isinstance(value, bool) and (is_integer(value) or isinstance(value, str))


def _index_of(key, names: tuple, model, argument: str) -> int:
    """The index of the input `key` (a name or an index) designates."""
    if isinstance(key, str):
        if key not in names:
            raise ValueError(
                f"model '{model.name}' has no input named {key!r}; its inputs "
                f"are {list(names)}. Received: {argument}={key!r}"
            )
        return names.index(key)
    if not -len(names) <= key < len(names):
        raise ValueError(
            f"{argument}={key} is out of range for model '{model.name}', which "
            f"has {len(names)} inputs {list(names)}. Received: {argument}={key!r}"
        )
    return int(key) % len(names)


def _constant_indices(constant_inputs, names: tuple, model) -> tuple:
    """The sorted indices of `constant_inputs`: `None`, a name or index, or a list of them."""
    if constant_inputs is None:
        return ()
    keys = constant_inputs if isinstance(constant_inputs, (list, tuple)) else [constant_inputs]
    if not keys or not all(_is_key(key) for key in keys):
        raise TypeError(
            "constant_inputs must be None, an input's name or index, or a list of "
            f"them. Received: constant_inputs={constant_inputs!r}"
        )
    return tuple(sorted({_index_of(key, names, model, "constant_inputs") for key in keys}))
