"""RetinaNet's anchors, computed once per anchor generator and input shape.

keras-hub's `AnchorGenerator` builds every level's anchors eagerly on each call
(tens of milliseconds on a CPU, against a forward pass of about a hundred); a
detection's explanation needs them twice (to decode the boxes, to know each
level's rows), on every call. The anchors depend on the generator's settings
and the input shape alone.
"""

from __future__ import annotations

import threading
import weakref

import keras
import numpy as np

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # generator -> {shape: anchors}
_lock = threading.Lock()


def anchors_of(generator, image_shape: tuple) -> dict:
    """The generator's anchors per level (numpy, in its order) for inputs of `image_shape`."""
    shape = tuple(int(size) for size in image_shape)
    with _lock:
        found = _cache.get(generator, {}).get(shape)
    if found is None:
        anchors = generator(np.zeros((1, *shape), np.float32))
        found = {name: keras.ops.convert_to_numpy(rows) for name, rows in anchors.items()}
        with _lock:
            _cache.setdefault(generator, {})[shape] = found
    return found
