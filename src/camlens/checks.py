"""Checks of single arguments, one function per kind, shared by every entry point.

Each raises `TypeError` or `ValueError` naming the argument, what was received
and what was expected, before any backend work starts. The module imports no
Keras (the command line parses its options before a backend is imported, so
that the backend's start-up logs can be held); checks of an input against a
model live with the model's description, in `camlens.model.inputs`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np


def is_integer(value) -> bool:
    """An integer, numpy's included; not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


BOX_FORMATS = (
    "yxyx",
    "xyxy",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_yxyx",
    "rel_xyxy",
    "rel_xywh",
    "rel_center_xywh",
)
"""Box formats, by Keras's names (`keras.utils.bounding_boxes`)."""


def check_class_id(value, argument: str) -> int:
    """A class id: a non-negative int; `argument` names it in the messages."""
    if not is_integer(value):
        raise TypeError(
            f"{argument} must be a class id (int). Received: {value!r} of type "
            f"{type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"{argument} must be >= 0. Received: {value!r}")
    return int(value)


def check_box_format(value, name: str = "box_format") -> str:
    """`value` if it is one of `BOX_FORMATS`."""
    if value not in BOX_FORMATS:
        raise ValueError(
            f"{name} must be one of {BOX_FORMATS} (Keras's names). Received: {name}={value!r}"
        )
    return value


def check_positive_int(value, name: str) -> int:
    """`value` as an int if it is an integer of at least 1, else a ValueError naming `name`."""
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_bool(value, name: str) -> bool:
    """`value` as a bool, if it is one (numpy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False. Received: {name}={value!r}")
    return bool(value)


def check_choice(value, name: str, choices: Sequence, what: str = ""):
    """`value` if it is one of `choices`; `what` says what the argument chooses."""
    if value not in choices:
        detail = f" ({what})" if what else ""
        raise ValueError(
            f"{name} must be one of {tuple(choices)}{detail}. Received: {name}={value!r}"
        )
    return value


def check_size(size, name: str = "size") -> tuple[int, int] | None:
    """`None`, or `(height, width)` as two positive ints."""
    if size is None:
        return None
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__") or len(size) != 2:
        raise ValueError(f"{name} must be (height, width) or None. Received: {name}={size!r}")
    height, width = (check_positive_int(n, name) for n in size)
    return height, width


def check_token_grid(token_grid) -> tuple[int, int] | None:
    """`None` or a `(rows, columns)` pair of positive integers."""
    if token_grid is None:
        return None
    if (
        not isinstance(token_grid, (tuple, list))
        or len(token_grid) != 2
        or not all(is_integer(n) and n >= 1 for n in token_grid)
    ):
        raise ValueError(
            "token_grid must be None or (rows, columns), two positive integers. "
            f"Received: token_grid={token_grid!r}"
        )
    return int(token_grid[0]), int(token_grid[1])


def check_prefix_tokens(prefix_tokens) -> int | None:
    """`None` or a non-negative integer."""
    if prefix_tokens is None:
        return None
    if not is_integer(prefix_tokens) or prefix_tokens < 0:
        raise ValueError(
            "prefix_tokens must be None or a non-negative integer. "
            f"Received: prefix_tokens={prefix_tokens!r}"
        )
    return int(prefix_tokens)


def check_output_index(output_index, layer) -> int:
    """The index of the explained tensor of a layer returning several."""
    if not is_integer(output_index):
        raise TypeError(f"output_index must be an integer. Received: output_index={output_index!r}")
    if layer is None and output_index != 0:
        raise ValueError(
            "output_index picks a tensor of an explicitly chosen layer; pass layer= "
            f"too. Received: layer=None, output_index={output_index!r}"
        )
    return int(output_index)


def check_callable(value, name: str, expected: str):
    """`None` or a callable; `expected` says what it should do."""
    if value is not None and not callable(value):
        raise TypeError(
            f"{name} must be None or a callable {expected}. "
            f"Received: {name} of type {type(value).__name__}"
        )
    return value


def check_layers(layers, layer) -> list | str | None:
    """`None`, a non-empty list of layers (instances, names or indices), or
    `"levels"` (a detector's pyramid levels), without `layer`."""
    if layers is None:
        return None
    if layers == "levels" and layer is None:
        return layers
    if isinstance(layers, (str, numbers.Integral)) or not isinstance(layers, Sequence):
        raise TypeError(
            "layers must be a list of layers (instances, names or indices into "
            "model.layers), or 'levels' for a detector's pyramid levels. "
            f"Received: layers={layers!r} of type {type(layers).__name__}"
        )
    if not layers:
        raise ValueError("layers must name at least one layer. Received: layers=[]")
    if layer is not None:
        raise ValueError(
            "Pass either layer= (one layer) or layers= (several), not both. "
            f"Received: layer={layer!r}, layers={layers!r}"
        )
    return list(layers)


def check_combine(combine, relu: bool, choices: Sequence) -> str:
    """`combine` if it is one of `choices`; `"product"` (RefineCAM) only with `relu`."""
    check_choice(combine, "combine", choices, "how the maps of layers= are combined")
    if combine == "product" and not relu:
        raise ValueError(
            "combine='product' (RefineCAM) multiplies maps in [0, 1]; with relu=False "
            "two negative maps would make a positive one. Pass relu=True, or "
            "combine='mean'. Received: combine='product', relu=False"
        )
    return combine


def check_counterfactual(method, counterfactual) -> bool:
    """`counterfactual` as a bool, refused for a method that ignores the target or
    its sign."""
    counterfactual = check_bool(counterfactual, "counterfactual")
    if counterfactual and not method.class_specific:
        raise ValueError(
            f"{method.title} does not depend on the target, so it has no "
            f"counterfactual. Received: method={method.name!r}, counterfactual=True"
        )
    if counterfactual and not method.signed:
        raise ValueError(
            f"{method.title} sums the magnitudes of its terms, which do not change "
            "when the score's sign does, so it has no counterfactual. "
            f"Received: method={method.name!r}, counterfactual=True"
        )
    return counterfactual


def check_smooth(method, smooth) -> str | None:
    """`None`, `"aug"`, or `"eigen"` for a method whose map is a sum over channels."""
    if smooth is not None and smooth not in ("aug", "eigen"):
        raise ValueError(f"smooth must be None, 'aug' or 'eigen'. Received: smooth={smooth!r}")
    if smooth == "eigen" and not method.sums_channels:
        raise ValueError(
            "smooth='eigen' projects the terms a method sums over channels, and "
            f"{method.title} is not such a sum (Eigen-CAM, Eigen-Grad-CAM, Seg-Eigen-CAM, "
            "KPCA-CAM and FEM project or threshold the activations themselves; Guided "
            "Grad-CAM multiplies by input gradients; FullGrad sums every layer's rescaled "
            "terms). Use smooth='aug' or None. "
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


def check_names(names, name: str, what: str) -> list[str]:
    """A non-empty list of distinct strings (method names, class names)."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise TypeError(
            f"{name} must be a list of {what}. "
            f"Received: {name}={names!r} of type {type(names).__name__}"
        )
    if not names:
        raise ValueError(f"{name} must name at least one. Received: {name}=[]")
    if not all(isinstance(item, str) for item in names):
        raise TypeError(f"{name} must hold strings ({what}). Received: {name}={names!r}")
    return list(names)


def check_image(image):
    """`None` or a PIL image."""
    from PIL import Image

    if image is not None and not isinstance(image, Image.Image):
        raise TypeError(
            "image must be a PIL.Image.Image or None. "
            f"Received: image of type {type(image).__name__}"
        )
    return image
