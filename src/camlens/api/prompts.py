"""Prompts as targets: an image–text backbone explained for the prompts a user names.

`towers_for` recognises a keras-hub image–text backbone (see
`camlens.model.image_text`); its explainer then works on the backbone's
`ImageSide`, takes the images alone, and `Towers.prompted` turns a list of
`Prompt` targets into the text embeddings of the prompts (the constant input,
computed once per prompt) and the class ids 0..P-1 of the side's (N, P) logits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import keras
import numpy as np

from ..model.image_text import ImageSide, image_side
from ..model.inputs import check_images
from ..model.slots import ModelInputs
from ..targets.image_text import Prompt, checked_token_ids

_PIXEL = np.zeros((1, 1, 1, 3), np.float32)
"""The image given to a keras-hub preprocessor asked for token ids only: its
image converter (SigLIP's) runs on whatever it is given."""


@dataclass(frozen=True)
class Towers:
    """An image–text backbone as camlens explains it.

    Attributes:
        side: the backbone's `ImageSide`, the model the probe runs.
        tokenizer: the explainer's `preprocess=` when it is the model's
            keras-hub preprocessor (it tokenizes prompts given as text), else `None`.
        image_preprocess: what the images go through first: the preprocessor's
            image converter, or a plain `preprocess=` callable; `None` for none.
    """

    side: ImageSide
    tokenizer: Callable | None = None
    image_preprocess: Callable | None = None

    def prepare(self, images, name: str = "images", single: bool = False) -> ModelInputs:
        """The images, checked (through the image preprocessing, if any), the
        text embeddings left for `prompted` to fill."""
        if isinstance(images, (dict, list, tuple)):
            raise TypeError(
                f"model '{self.side.name}' is an image–text backbone, explained for "
                f"camlens.targets.Prompt targets from its images alone: {name} must be "
                "the image array. To feed the token ids yourself, pass "
                f"constant_inputs='token_ids'. Received: {name} of type {type(images).__name__}"
            )
        if self.image_preprocess is not None:
            raw = check_images(images, None, name=name, single=single)
            images = keras.ops.convert_to_numpy(self.image_preprocess(raw))
        image = check_images(images, self.side.slots.shapes[0], name=name, single=single)
        return ModelInputs(image, self.side.slots, (None, None))

    def prompted(self, batch: ModelInputs, targets):
        """`(batch, targets)` with the prompts' text embeddings in the batch and
        their class ids (0..P-1, in order) as targets; unchanged if done already.

        Raises:
            ValueError, TypeError: naming `targets`, unless they are `Prompt`s
                (a list, or one) with token ids or a tokenizer.
        """
        items = targets if isinstance(targets, list) else [targets]
        if items and all(isinstance(item, Prompt) for item in items):
            ids = [token_ids(prompt, self.tokenizer) for prompt in items]
            embeddings = self.side.text_embeddings(ids)
            return batch.with_input(1, embeddings), list(range(len(items)))
        if batch.arrays[1] is not None:  # prompted already: the class ids of the prompts
            return batch, targets
        raise ValueError(
            f"model '{self.side.name}' is an image–text backbone: its targets are "
            "camlens.targets.Prompt objects, one map per prompt (e.g. "
            "targets=[Prompt('a cat', preprocessor), Prompt('a dog', preprocessor)]). "
            f"Received: targets={targets!r}"
        )


def towers_for(model, constant_inputs, preprocess, method) -> Towers | None:
    """The `Towers` of an image–text backbone explained for prompts, else `None`
    (another model, or one whose token ids the user feeds: `constant_inputs`)."""
    if constant_inputs is not None:
        return None
    side = image_side(model)
    if side is None:
        return None
    if method.input_gradients:
        raise ValueError(
            f"{method.title} differentiates with respect to the model's input, which "
            "camlens does for models with a single input only; an image–text backbone "
            f"has two. Received: method={method.name!r}, model '{model.name}'"
        )
    if _is_image_text_preprocessor(preprocess):
        return Towers(side, preprocess, getattr(preprocess, "image_converter", None))
    return Towers(side, None, preprocess)


def token_ids(prompt: Prompt, tokenizer=None) -> np.ndarray:
    """A prompt's 1-D token ids: its own, or its text through its tokenizer (else
    `tokenizer`, the explainer's)."""
    if prompt.token_ids is not None:
        return prompt.token_ids
    tokenizer = prompt.tokenizer if prompt.tokenizer is not None else tokenizer
    if tokenizer is None:
        raise ValueError(
            f"{prompt!r} is text: it needs a tokenizer, Prompt(text, tokenizer=...) "
            "with the model's keras-hub preprocessor (CLIPPreprocessor, "
            "SigLIPPreprocessor) or any callable mapping a string to token ids, or "
            "that preprocessor as the explainer's preprocess=; or pass the token ids "
            f"themselves. Received: {prompt!r} with tokenizer=None"
        )
    if _is_image_text_preprocessor(tokenizer):
        result = tokenizer({"prompts": [prompt.text], "images": _PIXEL})
    else:
        result = tokenizer(prompt.text)
    if isinstance(result, Mapping):
        if "token_ids" not in result:
            raise ValueError(
                f"the tokenizer of {prompt!r} returned a dict without 'token_ids'. "
                f"Received: keys {sorted(result)}"
            )
        result = result["token_ids"]
    return checked_token_ids(np.asarray(result), f"the token ids of {prompt!r} (its tokenizer's)")


def _is_image_text_preprocessor(value) -> bool:
    """A keras-hub preprocessor of an image–text model: it tokenizes prompts and
    converts images, called on `{"prompts": ..., "images": ...}`."""
    return (
        value is not None
        and hasattr(value, "tokenizer")
        and hasattr(value, "image_converter")
        and callable(value)
    )
