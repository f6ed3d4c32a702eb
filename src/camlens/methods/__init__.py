"""Class activation map methods: numpy functions of what a probe returns.

`registry` names them (and takes users' own with `register`); each method's
module holds its channel weights, terms or maps; `compute` applies a method and
the shared normalisation.
"""

from .inputs import MethodInputs
from .registry import (
    BUILT_IN,
    METHODS,
    Method,
    class_methods,
    compute,
    get_method,
    register,
    unregister,
)

__all__ = [
    "BUILT_IN",
    "METHODS",
    "Method",
    "MethodInputs",
    "class_methods",
    "compute",
    "get_method",
    "register",
    "unregister",
]
