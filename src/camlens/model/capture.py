"""Intercept calls inside a model's ordinary forward pass.

Keras runs every layer through `Layer.__call__`, which looks up `self.call` (see
`keras_internals.call_site`); a Dense or Activation layer applies
`self.activation`. While a capture is open, each intercepted attribute is
shadowed by an instance attribute that hands the original callable and its
arguments to an interceptor; the shadow is removed when the last capture of that
attribute closes, so what the layer had is what remains. This reaches layers of
Functional, Sequential and subclassed models alike, at any depth of nesting,
without building a sub-model.

Interceptors belong to the context that opened the capture (a
`contextvars.ContextVar`): an attribute shadowed in one thread or asyncio task
runs unchanged in another, and a capture that closes out of order (one opened in
a generator, say) removes its own frame, not the newest one.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Interceptor = Callable[..., Any]
"""`interceptor(original, *args, **kwargs)`: returns what the call should return."""


@dataclass(frozen=True)
class Site:
    """A value of the forward pass to watch: the first argument (`reads="input"`) or
    the result (`reads="output"`) of each call of `(target, attribute)`.

    Equal sites (the same object, attribute and reading) are one: a probe compiles
    its pass once per tuple of sites.
    """

    target: Any
    attribute: str
    reads: str = "output"

    def interceptor(self, hook: Callable[[Any], Any]) -> Interceptor:
        """An interceptor passing the watched value through `hook`."""
        if self.reads == "input":
            return lambda original, first, *args, **kwargs: original(hook(first), *args, **kwargs)
        return on_output(hook)


@contextlib.contextmanager
def capture(interceptors: Mapping[tuple[Any, str], Interceptor]) -> Iterator[None]:
    """Route calls of `(object, attribute)` through their interceptors, in this context.

    Args:
        interceptors: `(object, attribute name) -> interceptor`, e.g.
            `{(layer, "call"): lambda original, *a, **k: original(*a, **k)}`.
    """
    frame = _Frame({(id(obj), name): fn for (obj, name), fn in interceptors.items()})
    _frames.set(_frames.get() + (frame,))
    installed = []
    try:
        for obj, name in interceptors:
            _install(obj, name)
            installed.append((obj, name))
        yield
    finally:
        frame.open = False
        _frames.set(tuple(f for f in _frames.get() if f is not frame))
        for obj, name in installed:
            _uninstall(obj, name)


def unshadowed(obj, name: str):
    """`obj`'s attribute `name` as it is outside every capture (`None` if it has none):
    what another context sees while this one's shadow is installed."""
    with _install_lock:
        entry = _installed.get((id(obj), name))
    if entry is None:
        return getattr(obj, name, None)
    return getattr(type(obj), name, None) if entry[2] is _MISSING else entry[2]


def on_output(hook: Callable[[Any], Any]) -> Interceptor:
    """An interceptor that passes the call's result through `hook`."""
    return lambda original, *args, **kwargs: hook(original(*args, **kwargs))


class _Frame:
    """The interceptors of one open capture."""

    def __init__(self, interceptors: dict[tuple[int, str], Interceptor]):
        self.interceptors = interceptors
        self.open = True  # a task created inside a capture keeps a copy of the frames


_MISSING = object()
_frames: contextvars.ContextVar[tuple[_Frame, ...]] = contextvars.ContextVar(
    "camlens_capture_frames", default=()
)
_install_lock = threading.Lock()
_installed: dict[tuple[int, str], list] = {}  # (id, name) -> [object, open captures, previous]


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
        for frame in reversed(_frames.get()):
            interceptor = frame.interceptors.get(key) if frame.open else None
            if interceptor is not None:
                return interceptor(original, *args, **kwargs)
        return original(*args, **kwargs)

    return call
