"""What a map explains: the target objects users pass as `targets`.

Every target turns the model's output into one score per image:

- a class id, or `Class(k)`: the score of class k of a (batch, classes) output
  (softmax, or sigmoid for multi-label and binary heads);
- `Region(k, mask)`: the sum of class k's score over pixels of a segmentation
  output (batch, ..., classes);
- `Output(name_or_index, target)`: a target on one output of a multi-output model;
- a callable: maps the model's output to (N,) scores itself;
- `Prompt` and `Similarity` (`image_text`): an image–text model's prompt, an
  embedding's cosine similarity to a reference;
- `Box` and `Detections` (`detection`): a detector's predictions.

For a one-unit sigmoid head (binary classification), class 0 is the positive
class; `counterfactual=True` then maps the negative class (what speaks against
the positive one). How targets become scores: `camlens.api.planning` checks them
against the model's outputs and plans them, `camlens.probe.scores` computes the
scores inside the backend's compiled function.
"""

from .classes import REDUCTIONS, Class, Output, Region
from .detection import BOX_FORMATS, BOX_SCORES, Box, Detections
from .image_text import POOLINGS, Prompt, Similarity

__all__ = [
    "BOX_FORMATS",
    "BOX_SCORES",
    "POOLINGS",
    "REDUCTIONS",
    "Box",
    "Class",
    "Detections",
    "Output",
    "Prompt",
    "Region",
    "Similarity",
]
