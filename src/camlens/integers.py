"""Integer arguments, checked alike everywhere.

Importable without Keras: the command line parses its options (`--count 3`)
before any backend is imported, so that the backend's start-up logs can be held.
"""

from __future__ import annotations

import numbers

import numpy as np


def is_integer(value) -> bool:
    """An integer, numpy's included; not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_positive_int(value, name: str) -> int:
    """`value` as an int, if it is an integer of at least 1; a ValueError naming `name` otherwise."""
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)
