"""Models with an image input beside others (e.g. an image and tabular metadata).

The map is for one input, the image input (`image_input=`: an index into
`model.inputs` or an input's name; by default the only input of image rank,
three axes or more). The other inputs go with it unchanged: every pass the
methods run on variants of an image (masked, ablated, flipped) gets the other
inputs of that image. `ModelInputs` is one batch of all inputs; a model with a
single input is the case with no others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .integers import is_integer


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
    if image_input is not None and (isinstance(image_input, bool)
                                    or not (is_integer(image_input) or isinstance(image_input, str))):
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
                f"{' named ' + repr(names[0]) if names else ''}. Received: image_input={image_input!r}"
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
        return ModelInputs(self.image[start:stop], self.slots,
                           tuple(None if a is None else a[start:stop] for a in self.arrays))


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
    checked = []
    for index, (array, shape) in enumerate(zip(arrays, slots.shapes)):
        if index == slots.image:
            checked.append(None)
            continue
        label = f"{name}[{names[index]!r}]"
        if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
            raise TypeError(f"{label} must be a numeric numpy.ndarray. Received: {type(array).__name__}")
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
