"""The 1000 ImageNet (ILSVRC-2012) classes, in the standard index order.

The order is that of the sorted WordNet ids (`n01440764` tench is class 0), the
order of Keras's and torchvision's ImageNet models and of EfficientNet-Lite0.
The names are Keras's `imagenet_class_index.json` names with `_` read as a space.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

from ..checks import check_positive_int

LABELS_FILE = "imagenet_labels.txt"  # "<wnid> <name>" per line, in index order


def imagenet_labels() -> list[str]:
    """The 1000 class names, indexed by class id: `imagenet_labels()[281] == "tabby"`."""
    return [name for _, name in _table()]


def imagenet_wnids() -> list[str]:
    """The 1000 WordNet ids, indexed by class id: `imagenet_wnids()[0] == "n01440764"`."""
    return [wnid for wnid, _ in _table()]


def decode_predictions(scores, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """The `top` classes of each row of scores, best first.

    Args:
        scores: (N, 1000) probabilities or logits, e.g. `model.predict(images)`.
        top: how many classes per row.

    Returns:
        N lists of `(class_id, name, score)`.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[1] != len(_table()):
        raise ValueError(
            f"scores must have shape (N, {len(_table())}). Received: scores.shape={scores.shape}"
        )
    top = check_positive_int(top, "top")
    names = imagenet_labels()
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [[(int(i), names[i], float(row[i])) for i in ids] for row, ids in zip(scores, order)]


@functools.lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, str], ...]:
    text = resources.files(__package__).joinpath(LABELS_FILE).read_text(encoding="utf-8")
    rows = tuple(tuple(line.split(" ", 1)) for line in text.splitlines() if line)
    return tuple((wnid, name.replace("_", " ")) for wnid, name in rows)
