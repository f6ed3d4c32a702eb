"""From a layer's output to the spatial grid a method works on.

A convolutional layer's output already is a grid, `(N, h, w, C)`. A vision
transformer's layer outputs a sequence of tokens, `(N, T, C)`: a few leading
tokens that belong to no position (a class token, DeiT's distillation token,
register tokens), then one token per patch, row by row. `Layout` drops the
leading tokens and folds the patch tokens into `(N, gh, gw, C)`, for the
activations and their gradients alike, between the probe and the method.

Not every (N, T, C) output is tokens. A detection head reshapes its grid of
h * w positions, each predicting A anchors, into h * w * A rows: a 16x16 grid
with 9 anchors gives 2,304 rows, a square, which must never be read as a 48x48
patch grid. Patch tokens are one per position of the grid they were made from,
or one per patch of positions, never more; the model's inspection follows
each token output back to that grid (`Inspection.token_positions`), and a
layout with more patch tokens than positions is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks import check_token_grid

MAX_PREFIX_TOKENS = 16
"""The most leading non-patch tokens the grid inference considers."""


@dataclass(frozen=True)
class Layout:
    """How to read a layer's output as a grid.

    Attributes:
        prefix: leading tokens dropped (0 for a grid output).
        grid: `(gh, gw)` patch grid of a token output, `None` for a grid
            output (one of the input's rank: (N, h, w, C) for an image).
    """

    prefix: int = 0
    grid: tuple | None = None

    def apply(self, array: np.ndarray, token_axis: int) -> np.ndarray:
        """`array` with its token axis replaced by the grid's two axes.

        Args:
            array: activations (N, T, C) with `token_axis=1`, or gradients
                (N, K, T, C) with `token_axis=2`.
        """
        if self.grid is None:
            return array
        patches = np.take(array, np.arange(self.prefix, array.shape[token_axis]), axis=token_axis)
        shape = array.shape[:token_axis] + tuple(self.grid) + array.shape[token_axis + 1 :]
        return patches.reshape(shape)


def layout_for(
    shape: tuple,
    input_shape: tuple,
    layer_name: str,
    token_grid=None,
    prefix_tokens=None,
    positions: int | None = None,
) -> Layout:
    """The layout of a layer output of `shape` in a model with input `input_shape`.

    Args:
        shape: the layer's output shape: a grid of the input's rank, `(N, h, w,
            C)` for an image, `(N, t, C)` for a 1-D signal, `(N, d, h, w, C)`
            for a volume; or an image model's tokens `(N, T, C)`.
        input_shape: the model input's shape, e.g. `(N, H, W, C)`.
        layer_name: for messages.
        token_grid: `(gh, gw)` given by the user, else inferred: `gh * gw` patch
            tokens with `gh / gw == H / W`.
        prefix_tokens: leading tokens to drop, else `T - gh * gw`.
        positions: at most how many patch tokens the output can hold (the
            positions of the grid it was made from), `None` if unknown.

    Raises:
        ValueError: when the output is neither a grid nor tokens, or when the
            tokens fit no grid (the message says which options to pass).
    """
    if len(shape) == len(input_shape):
        return Layout()
    if len(shape) != 3 or len(input_shape) != 4:
        raise ValueError(
            f"Layer '{layer_name}' has an output of shape {shape}; a class activation "
            f"map of a model with {len(input_shape)}-D inputs needs a layer whose output "
            f"is a {len(input_shape)}-D grid like the input's, {_grid_text(len(input_shape))}"
            + (
                ", or the 3-D (batch, tokens, channels) output of a vision transformer"
                if len(input_shape) == 4
                else ""
            )
            + f". Received: layer='{layer_name}'"
        )
    tokens = shape[1]
    height, width = input_shape[1:3]
    if positions is not None and tokens - MAX_PREFIX_TOKENS > positions:
        raise _folded_rows_error(layer_name, tokens, positions)
    if token_grid is not None:
        grid = check_token_grid(token_grid)
        assert grid is not None
        prefix = tokens - grid[0] * grid[1] if prefix_tokens is None else prefix_tokens
        if prefix < 0 or prefix + grid[0] * grid[1] != tokens:
            raise ValueError(
                f"Layer '{layer_name}' outputs {tokens} tokens, which do not fit "
                f"token_grid={grid} with {prefix} leading tokens. Received: "
                f"token_grid={token_grid!r}, prefix_tokens={prefix_tokens!r}"
            )
        if positions is not None and grid[0] * grid[1] > positions:
            raise _folded_rows_error(layer_name, tokens, positions)
        return Layout(prefix, grid)
    prefixes = range(MAX_PREFIX_TOKENS + 1) if prefix_tokens is None else [prefix_tokens]
    for prefix in prefixes:
        grid = _grid_of(tokens - prefix, height, width)
        if grid is not None and (positions is None or grid[0] * grid[1] <= positions):
            return Layout(prefix, grid)
    raise ValueError(
        f"Layer '{layer_name}' outputs {tokens} tokens, which fit no patch grid with "
        f"the input's aspect ratio ({height}x{width})"
        + ("" if prefix_tokens is None else f" after {prefix_tokens} leading tokens")
        + ". Pass token_grid=(rows, columns) and, if needed, prefix_tokens=k. "
        f"Received: layer='{layer_name}', prefix_tokens={prefix_tokens!r}"
    )


def _folded_rows_error(layer_name: str, tokens: int, positions: int) -> ValueError:
    return ValueError(
        f"Layer '{layer_name}' outputs {tokens} rows made from a grid of {positions} "
        "positions: more rows than positions, so each row is not a patch of the image "
        "but a position folded with something else (a detection head's anchors), and "
        "there is no patch grid to map. Choose a layer with a (batch, height, width, "
        "channels) output, e.g. the feature map the head reads (for a detector, the "
        f"pyramid level of the explained box). Received: layer='{layer_name}'"
    )


def _grid_text(rank: int) -> str:
    return {
        3: "(batch, steps, channels), such as a Conv1D",
        4: "(batch, height, width, channels), such as a convolution",
        5: "(batch, depth, height, width, channels), such as a Conv3D",
    }.get(rank, f"{rank}-D")


def _grid_of(patches: int, height: int | None, width: int | None) -> tuple | None:
    """`(gh, gw)` with `gh * gw == patches` and `gh / gw == height / width`, if any."""
    if patches < 2 or not height or not width:
        return None
    for rows in range(1, patches + 1):
        if patches % rows == 0 and rows * width == (patches // rows) * height:
            return rows, patches // rows
    return None


class TokenPositions:
    """The token bound of every tensor of a model's trace: at most how many patch
    tokens a (N, T, C) tensor can hold (see `Inspection.token_positions`).

    Only images have token outputs: for other inputs (signals, volumes,
    several inputs) every bound is `None`.

    Args:
        rank: the image input's rank, `None` for several inputs.
        channels_first: whether the model's grids have their channels first.
    """

    def __init__(self, rank: int | None, channels_first: bool):
        self.rank = rank if rank == 4 else None
        self.channels_first = channels_first
        self.bounds: dict[int, int] = {}  # id of a (N, T, C) tensor -> its bound

    def of_inputs(self, tensors) -> int | None:
        """The bound of a layer's outputs: the most positions any input stands for."""
        if self.rank is None:
            return None
        bounds = []
        for tensor in tensors:
            shape = tuple(tensor.shape)
            if len(shape) == self.rank:
                spatial = shape[2:] if self.channels_first else shape[1:-1]
                if None in spatial:
                    return None
                bounds.append(math.prod(spatial))
            elif len(shape) == 3:
                if id(tensor) not in self.bounds:
                    return None
                bounds.append(self.bounds[id(tensor)])
        return max(bounds) if bounds else None

    def record_outputs(self, tensors, positions: int | None) -> None:
        if positions is None:
            return
        for tensor in tensors:
            if len(tensor.shape) == 3:
                self.bounds[id(tensor)] = positions
