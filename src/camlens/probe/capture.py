"""Intercept layer outputs during a model's ordinary forward pass.

Keras runs every layer through `Layer.__call__`, which looks up `self.call`. While
a capture is open, each captured layer carries an instance attribute `call` that
runs the original method and hands the output to a hook; the attribute is removed
when the last capture of that layer closes, so the class method is what remains.
This reaches layers of Functional, Sequential and subclassed models alike, at
any depth of nesting, without building a sub-model.

Hooks are per thread: a layer wrapped for one thread runs unchanged in another.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

Hook = Callable[[Any], Any]

_MISSING = object()
_install_lock = threading.Lock()
_installed: dict[int, list] = {}  # id(layer) -> [layer, open captures, previous attr]
_local = threading.local()


@contextlib.contextmanager
def capture(hooks: Mapping[Any, Hook]) -> Iterator[None]:
    """Pass every output of each layer's `call` through its hook, in this thread.

    Args:
        hooks: layer -> function taking the layer's output and returning the
            output the rest of the model should see (usually the same object).
    """
    layers = list(hooks)
    for layer in layers:
        _install(layer)
    frames = _frames()
    frames.append({id(layer): hook for layer, hook in hooks.items()})
    try:
        yield
    finally:
        frames.pop()
        for layer in layers:
            _uninstall(layer)


def _frames() -> list[dict[int, Hook]]:
    if not hasattr(_local, "frames"):
        _local.frames = []
    return _local.frames


def _install(layer) -> None:
    with _install_lock:
        entry = _installed.get(id(layer))
        if entry is not None:
            entry[1] += 1
            return
        attributes = vars(layer)
        previous = attributes.get("call", _MISSING)
        attributes["call"] = _hooked_call(id(layer), layer.call)
        _installed[id(layer)] = [layer, 1, previous]


def _uninstall(layer) -> None:
    with _install_lock:
        entry = _installed[id(layer)]
        entry[1] -= 1
        if entry[1]:
            return
        del _installed[id(layer)]
        attributes = vars(layer)
        if entry[2] is _MISSING:
            attributes.pop("call", None)
        else:
            attributes["call"] = entry[2]


def _hooked_call(layer_id: int, original: Callable) -> Callable:
    def call(*args, **kwargs):
        outputs = original(*args, **kwargs)
        for frame in reversed(_frames()):
            hook = frame.get(layer_id)
            if hook is not None:
                return hook(outputs)
        return outputs

    return call
