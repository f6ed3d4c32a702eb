"""keras-hub's image–text backbones (CLIP, SigLIP, MetaCLIP 2), explained on their image side.

Such a backbone takes images and prompts' token ids and returns the logit of
every image against every prompt (`vision_logits`, (N, P)). Its text tower does
not see the image, so camlens runs it once per prompt (`ImageSide.text_embeddings`,
cached by token ids) and explains `ImageSide`: a model of the backbone's own
layers that takes the images and the prompts' text embeddings (a constant input,
the same for every image: see `camlens.model.slots`) and returns the same
logits through the backbone's own head.

A backbone is recognised by what it offers, not by its class: the methods
`get_vision_embeddings` and `get_text_embeddings`, inputs `images` and
`token_ids`, and an output `vision_logits` produced by a head layer that takes
the two embeddings.
"""

from __future__ import annotations

import threading
import weakref

import keras
import numpy as np

from .class_token import ClassTokenPath, class_token_path
from .keras_internals import producing_layer
from .slots import InputSlots

IMAGES = "images"
"""The image input of an image–text backbone and of its `ImageSide`."""

TEXT = "text_embeddings"
"""`ImageSide`'s constant input: the prompts' text embeddings (P, D)."""

_sides: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_class_token_sides: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # side -> side or None
_sides_lock = threading.Lock()


def image_side(model) -> ImageSide | None:
    """The cached `ImageSide` of an image–text backbone, `None` for another model."""
    with _sides_lock:
        side = _sides.get(model)
        if side is None:
            head = _head_of(model)
            if head is None:
                return None
            side = _sides[model] = ImageSide(model, head)
        return side


class ImageSide(keras.Model):
    """An image–text backbone's image tower and head, the text given as embeddings.

    Called on `{"images": (N, H, W, C), "text_embeddings": (P, D)}`, it returns
    the (N, P) logits the backbone's `vision_logits` would give for the prompts
    whose text embeddings these are. It holds the backbone's layers (so that
    layers are found and named as in the backbone) but not the backbone itself,
    which it reads through a weak reference: the cache of sides dies with it.

    Attributes:
        slots: its inputs: the images, and the text embeddings, constant.
    """

    def __init__(self, backbone: keras.Model, head: keras.layers.Layer):
        super().__init__(name=backbone.name)
        self.tower_layers = [
            layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)
        ]
        self._backbone = weakref.ref(backbone)
        self._head = head
        self._texts = _TextCache()
        image_shape = tuple(backbone.input[IMAGES].shape)
        self.slots = InputSlots(
            names=(IMAGES, TEXT),
            shapes=(image_shape, (None, None)),
            image=0,
            as_dict=True,
            constant=(1,),
        )
        self.built = True

    @property
    def backbone(self) -> keras.Model:
        backbone = self._backbone()
        if backbone is None:
            raise RuntimeError("The image–text backbone of this image side has been collected.")
        return backbone

    def call(self, inputs, training=None):  # inference only: `training` is accepted, unused
        vision = self.backbone.get_vision_embeddings(inputs[IMAGES])
        return self._head(vision, inputs[TEXT])[0]

    def text_embeddings(self, token_ids: list) -> np.ndarray:
        """(P, D) float32: the text tower's embedding of each prompt's 1-D token ids.

        Prompts of one length run together; each prompt runs once for as long
        as this side lives (the cache holds the last 1024).
        """
        keys = [tuple(int(i) for i in ids) for ids in token_ids]
        cache = self._texts
        with cache.lock:
            missing = sorted({key for key in keys if key not in cache.embeddings})
            for length in sorted({len(key) for key in missing}):
                group = [key for key in missing if len(key) == length]
                ids = keras.ops.convert_to_tensor(np.array(group, np.int32))
                embedded = keras.ops.convert_to_numpy(self.backbone.get_text_embeddings(ids))
                if len(cache.embeddings) + len(group) > cache.size:
                    cache.embeddings.clear()
                cache.embeddings.update(zip(group, embedded.astype(np.float32)))
            return np.stack([cache.embeddings[key] for key in keys])


class ClassTokenSide(ImageSide):
    """An `ImageSide` whose vision tower runs its last block for the class token
    alone (`camlens.model.class_token`): the same logits, the same layers up to
    the block before the last, and the same text embeddings (one cache)."""

    def __init__(self, side: ImageSide, path: ClassTokenPath):
        super().__init__(side.backbone, side._head)
        self._texts = side._texts
        self.class_token = path

    def call(self, inputs, training=None):  # inference only, as `ImageSide`
        return self._head(self.class_token.embeddings(inputs[IMAGES]), inputs[TEXT])[0]


def class_token_side(side: ImageSide) -> ClassTokenSide | None:
    """The cached `ClassTokenSide` of a CLIP backbone's side, `None` for another."""
    with _sides_lock:
        if side not in _class_token_sides:
            path = class_token_path(side.backbone)
            _class_token_sides[side] = None if path is None else ClassTokenSide(side, path)
        return _class_token_sides[side]


class _TextCache:
    """Text embeddings by token ids (a plain object: Keras would track a dict attribute)."""

    size = 1024

    def __init__(self):
        self.embeddings: dict[tuple, np.ndarray] = {}
        self.lock = threading.Lock()


def _head_of(model) -> keras.layers.Layer | None:
    """The head layer of an image–text backbone (what computes `vision_logits`), else `None`."""
    if not (
        isinstance(model, keras.Model)
        and callable(getattr(model, "get_vision_embeddings", None))
        and callable(getattr(model, "get_text_embeddings", None))
    ):
        return None
    try:
        inputs, outputs = model.input, model.output
    except (AttributeError, ValueError):
        return None
    if not (
        isinstance(inputs, dict)
        and set(inputs) == {IMAGES, "token_ids"}
        and isinstance(outputs, dict)
        and "vision_logits" in outputs
    ):
        return None
    return producing_layer(outputs["vision_logits"])
