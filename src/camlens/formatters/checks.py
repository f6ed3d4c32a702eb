"""Argument checks shared by the formatters."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np


def check_explanation(expl) -> None:
    """An `Explanation` (anything with its `image` and `targets` fields)."""
    if not (hasattr(expl, "image") and hasattr(expl, "targets")):
        raise TypeError(
            f"expl must be a camlens Explanation. Received: expl of type {type(expl).__name__}"
        )


def check_alpha_limit(alpha_limit) -> None:
    if alpha_limit is None:
        return
    if isinstance(alpha_limit, bool) or not isinstance(alpha_limit, numbers.Real):
        raise TypeError(
            "alpha_limit must be a number in [0, 1] or None. "
            f"Received: alpha_limit={alpha_limit!r} of type {type(alpha_limit).__name__}"
        )
    if not 0 <= float(alpha_limit) <= 1:
        raise ValueError(f"alpha_limit must be in [0, 1]. Received: alpha_limit={alpha_limit}")


def check_heatmap(heatmap, name: str, ranks=(2,), signed: bool = False) -> np.ndarray:
    """Validate a heatmap and return it as a float64 array.

    Args:
        heatmap: the value to check.
        name: how error messages call it.
        ranks: the accepted numbers of dimensions.
        signed: accept values in [-1, 1] (negative evidence kept), else [0, 1].

    Returns:
        The heatmap as a float64 ndarray (integer input is not read as
        colormap indices).
    """
    if not isinstance(heatmap, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray. Received: {name} of type {type(heatmap).__name__}"
        )
    if heatmap.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers. Received: {name}.dtype={heatmap.dtype}")
    if heatmap.ndim not in ranks:
        expected = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{name} must have rank {expected}. Received: {name}.shape={heatmap.shape}"
        )
    if heatmap.size == 0:
        raise ValueError(f"{name} must not be empty. Received: {name}.shape={heatmap.shape}")
    heatmap = heatmap.astype(np.float64)
    low, high = np.min(heatmap), np.max(heatmap)
    if not ((-1 if signed else 0) <= low and high <= 1):  # NaN fails both comparisons
        allowed = (
            "[0, 1], or [-1, 1] for a map that keeps negative evidence" if signed else "[0, 1]"
        )
        raise ValueError(
            f"{name} must have values in {allowed}. Received: {name} with min={low} and max={high}"
        )
    return heatmap


def check_target_names(target_names) -> None:
    if target_names is None or isinstance(target_names, Mapping):
        return
    if isinstance(target_names, (str, bytes)) or not isinstance(target_names, Sequence):
        raise TypeError(
            "target_names must be a sequence of names or a mapping from class id "
            f"to name. Received: target_names of type {type(target_names).__name__}"
        )


def check_signal(signal, name: str) -> np.ndarray:
    """A 1-D input: a `(T, C)` (or `(T,)`) array of real numbers, as float64 `(T, C)`."""
    signal = _check_array(signal, name, "a (T, C) signal array", ranks=(1, 2))
    return signal[:, None] if signal.ndim == 1 else signal


def check_volume(volume, name: str) -> np.ndarray:
    """A 3-D input: a `(D, H, W, C)` array of real numbers, as float64."""
    return _check_array(volume, name, "a (D, H, W, C) volume array", ranks=(4,))


def check_map_fits(heatmap: np.ndarray, size: tuple[int, ...], name: str, what: str) -> None:
    """A map is at most as large as the input it explains, along every axis."""
    if any(m > n for m, n in zip(heatmap.shape, size)):
        raise ValueError(
            f"{name} must be no larger than the {what} it explains, {size}, along any "
            f"axis. Received: {name}.shape={heatmap.shape}"
        )


def _check_array(value, name: str, expected: str, ranks) -> np.ndarray:
    """A non-empty numpy array of real numbers of one of `ranks`, as float64."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers. Received: {name}.dtype={value.dtype}")
        if value.ndim in ranks and value.size:
            return value.astype(np.float64)
        received = f"{name}.shape={value.shape}"
    elif hasattr(value, "size") and hasattr(value, "mode"):  # a PIL image
        received = f"{name}, a PIL image of size {value.size}"
    else:
        raise TypeError(
            f"{name} must be {expected}. Received: {name} of type {type(value).__name__}"
        )
    raise ValueError(f"{name} must be {expected}. Received: {received}")
