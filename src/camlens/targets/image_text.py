"""Targets of image–text and embedding models: a prompt, a similarity to a reference."""

from __future__ import annotations

import numbers

import numpy as np


class Prompt:
    """One prompt of an image–text model (keras-hub CLIP, SigLIP, MetaCLIP 2):
    the map of what in the image matches it.

    The score is the model's image–text logit for the prompt (its scaled cosine
    similarity, plus SigLIP's bias). Pass the images alone: camlens feeds the
    prompts' token ids to the text tower, once per prompt (see
    `docs/image-text.md`).

    Args:
        text_or_token_ids: the prompt's text (str), or its token ids (a 1-D
            sequence of ints) as the text tower takes them, packed with the
            start and end tokens the model expects.
        tokenizer: for text: the model's keras-hub preprocessor (e.g.
            `CLIPPreprocessor`, `SigLIPPreprocessor`), or any callable mapping
            a string to its token ids; `None` for token ids, or to use the
            explainer's `preprocess=` when that is such a preprocessor.

    Example:
        >>> cat, dog = Prompt("a cat", preprocessor), Prompt("a dog", preprocessor)
        >>> explainer(images, targets=[cat, dog])
    """

    def __init__(self, text_or_token_ids, tokenizer=None):
        self.text, self.token_ids = None, None
        if isinstance(text_or_token_ids, str):
            if not text_or_token_ids.strip():
                raise ValueError("Prompt(text) must not be empty. Received: text=''")
            self.text = text_or_token_ids
        else:
            self.token_ids = checked_token_ids(text_or_token_ids, "Prompt(text_or_token_ids)")
        if tokenizer is not None and not callable(tokenizer):
            raise TypeError(
                "Prompt(tokenizer) must be None or a callable mapping a string to token "
                "ids, e.g. the model's keras-hub preprocessor. Received: tokenizer of "
                f"type {type(tokenizer).__name__}"
            )
        self.tokenizer = tokenizer

    @property
    def name(self) -> str:
        if self.text is not None:
            return self.text
        return f"token ids {self.token_ids.tolist()}"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        if self.text is not None:
            return f"Prompt({self.text!r})"
        return f"Prompt({self.token_ids.tolist()})"


POOLINGS = ("class", "mean")
"""How `Similarity` reads an embedding from a token output (batch, tokens, dim)."""


class Similarity:
    """The cosine similarity between the model's embedding of an image and `reference`:
    what in the image makes it similar to that (image retrieval, face
    verification, DINOv2 features).

    Args:
        reference: a vector (dim,) compared with every image's embedding; an
            array (N, dim), one per image; or a reference image, (H, W, C) or
            (1, H, W, C) as the model takes it, whose embedding camlens computes.
        output: which output holds the embedding (a name or an index), for a
            model with several; `None` for the only one.
        pooling: for an output of tokens (batch, tokens, dim), e.g. a headless
            DINOv2: `"class"` takes the class token (the first), `"mean"` the
            mean of the patch tokens (class and register tokens left out, as
            the patch grid says).

    Example:
        >>> explainer(images, targets=Similarity(reference_image))
    """

    def __init__(self, reference, output=None, pooling: str = "class"):
        reference = np.asarray(reference) if not isinstance(reference, np.ndarray) else reference
        if (
            reference.dtype == bool
            or not np.issubdtype(reference.dtype, np.number)
            or reference.ndim == 0
            or reference.size == 0
        ):
            raise TypeError(
                "Similarity(reference) must be a vector (dim,), an array (N, dim) or an "
                f"image (H, W, C), of numbers. Received: reference of shape "
                f"{reference.shape} and dtype {reference.dtype}"
            )
        if not np.isfinite(reference).all():
            raise ValueError("Similarity(reference) contains NaN or infinite values.")
        if reference.ndim <= 2 and not np.all(np.linalg.norm(reference, axis=-1) > 0):
            raise ValueError(
                "Similarity(reference) has a zero vector: its cosine similarity is "
                f"undefined. Received: reference of shape {reference.shape}"
            )
        if output is not None and (
            isinstance(output, bool) or not isinstance(output, (str, numbers.Integral))
        ):
            raise TypeError(
                "Similarity(output) must be None, an output's name (str) or index (int). "
                f"Received: output={output!r}"
            )
        if pooling not in POOLINGS:
            raise ValueError(
                f"Similarity(pooling) must be one of {POOLINGS}. Received: pooling={pooling!r}"
            )
        self.reference = reference
        self.output = output
        self.pooling = pooling
        self.first_patch: int | None = None
        """Where the patch tokens start, found by camlens for `pooling="mean"`."""

    @property
    def is_image(self) -> bool:
        """Whether `reference` is an image (whose embedding camlens computes)."""
        return self.reference.ndim >= 3

    def resolved(self, reference: np.ndarray, first_patch: int | None = None) -> Similarity:
        """A copy comparing with `reference` (vectors), the patch tokens from `first_patch`."""
        copy = Similarity(reference, self.output, self.pooling)
        copy.first_patch = first_patch
        return copy

    @property
    def name(self) -> str:
        what = "a reference image" if self.is_image else f"a reference {self.reference.shape}"
        return f"similarity to {what}"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Similarity(<{self.reference.shape} reference>, output={self.output!r})"


def checked_token_ids(value, argument: str) -> np.ndarray:
    """One prompt's token ids as a 1-D int32 array (a leading axis of 1 dropped)."""
    try:
        ids = np.asarray(value)
    except (TypeError, ValueError):
        ids = np.asarray(None)
    if ids.ndim == 2 and len(ids) == 1:
        ids = ids[0]
    if ids.ndim == 1 and ids.size == 0:
        raise ValueError(f"{argument} holds no token id. Received: {value!r}")
    if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer) or ids.ndim != 1:
        raise TypeError(
            f"{argument} must be the prompt's text (str) or its token ids, a 1-D "
            f"sequence of ints. Received: {value!r} of type {type(value).__name__}"
        )
    return ids.astype(np.int32)
