"""Intercept calls inside a model's ordinary forward pass.

Keras runs every layer through `Layer.__call__`, which looks up `self.call`; a
Dense or Activation layer applies `self.activation`. While a capture is open,
each intercepted attribute is shadowed by an instance attribute that hands the
original callable and its arguments to an interceptor; the shadow is removed when
the last capture of that attribute closes, so what the layer had is what remains.
This reaches layers of Functional, Sequential and subclassed models alike, at any
depth of nesting, without building a sub-model.

Interceptors are per thread: an attribute shadowed for one thread runs unchanged
in another.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

Interceptor = Callable[..., Any]
"""`interceptor(original, *args, **kwargs)`: returns what the call should return."""

_MISSING = object()
_install_lock = threading.Lock()
_installed: dict[tuple[int, str], list] = {}  # (id, name) -> [object, open captures, previous]
_local = threading.local()


@contextlib.contextmanager
def capture(interceptors: Mapping[tuple[Any, str], Interceptor]) -> Iterator[None]:
    """Route calls of `(object, attribute)` through their interceptors, in this thread.

    Args:
        interceptors: `(object, attribute name) -> interceptor`, e.g.
            `{(layer, "call"): lambda original, *a, **k: original(*a, **k)}`.
    """
    targets = list(interceptors)
    installed = []
    frames = _frames()
    frames.append({(id(obj), name): fn for (obj, name), fn in interceptors.items()})
    try:
        for obj, name in targets:
            _install(obj, name)
            installed.append((obj, name))
        yield
    finally:
        frames.pop()
        for obj, name in installed:
            _uninstall(obj, name)


def on_output(hook: Callable[[Any], Any]) -> Interceptor:
    """An interceptor that passes the call's result through `hook`."""
    return lambda original, *args, **kwargs: hook(original(*args, **kwargs))


def on_input(hook: Callable[[Any], None]) -> Interceptor:
    """An interceptor that shows the call's first argument to `hook`, then calls on."""

    def intercept(original, first, *args, **kwargs):
        hook(first)
        return original(first, *args, **kwargs)

    return intercept


def _frames() -> list[dict[tuple[int, str], Interceptor]]:
    if not hasattr(_local, "frames"):
        _local.frames = []
    return _local.frames


def _install(obj, name: str) -> None:
    key = (id(obj), name)
    with _install_lock:
        entry = _installed.get(key)
        if entry is not None:
            entry[1] += 1
            return
        attributes = vars(obj)
        previous = attributes.get(name, _MISSING)
        attributes[name] = _routed(key, getattr(obj, name))
        _installed[key] = [obj, 1, previous]


def _uninstall(obj, name: str) -> None:
    key = (id(obj), name)
    with _install_lock:
        entry = _installed[key]
        entry[1] -= 1
        if entry[1]:
            return
        del _installed[key]
        attributes = vars(obj)
        if entry[2] is _MISSING:
            attributes.pop(name, None)
        else:
            attributes[name] = entry[2]


def _routed(key: tuple[int, str], original: Callable) -> Callable:
    def call(*args, **kwargs):
        for frame in reversed(_frames()):
            interceptor = frame.get(key)
            if interceptor is not None:
                return interceptor(original, *args, **kwargs)
        return original(*args, **kwargs)

    return call
