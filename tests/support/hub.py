"""keras-hub image classifiers built from small configs, and a backend-native gradient.

Nothing is downloaded: every model is built from constructor arguments with
seeded random weights. `gradient` differentiates with the running backend's
own autodiff (GradientTape, jax.grad, torch autograd), independently of camlens.
"""

from __future__ import annotations

import keras
import numpy as np

CLASSES = 5


def vit(image_shape=(64, 64, 3), num_layers=2):
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=image_shape,
        patch_size=16,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=32,
        mlp_dim=64,
    )
    return keras_hub.models.ViTImageClassifier(backbone, num_classes=CLASSES)


def deit(image_shape=(64, 64, 3)):
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.DeiTBackbone(
        image_shape=image_shape,
        patch_size=16,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )
    return keras_hub.models.DeiTImageClassifier(backbone, num_classes=CLASSES)


def swin(image_shape=(64, 64, 3)):
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.SwinTransformerBackbone(
        image_shape=image_shape,
        patch_size=4,
        embed_dim=16,
        depths=(2, 2),
        num_heads=(2, 2),
        window_size=4,
    )
    return keras_hub.models.SwinTransformerImageClassifier(backbone, num_classes=CLASSES)


def vgg_with_preprocessor(image_size=(32, 32)):
    """A small keras-hub VGG classifier with `None` spatial input dimensions and
    its preprocessor: an image converter to `image_size` (`None`: the image's own
    size; centre-cropped to the aspect ratio, as keras-hub does by default),
    scaled by 1/127.5 and offset by -1."""
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.VGGBackbone(
        stackwise_num_repeats=[1, 1], stackwise_num_filters=[8, 16], image_shape=(None, None, 3)
    )
    converter = keras_hub.layers.VGGImageConverter(
        image_size=image_size, scale=1 / 127.5, offset=-1.0
    )
    preprocessor = keras_hub.models.VGGImageClassifierPreprocessor(image_converter=converter)
    return keras_hub.models.VGGImageClassifier(
        backbone,
        num_classes=CLASSES,
        pooling="avg",
        pooling_hidden_dim=16,
        preprocessor=preprocessor,
    )


def vit_split(model, x: np.ndarray):
    """A ViT classifier (2 blocks, class-token head) cut after its first block.

    Returns:
        `(tokens, logits)`: tokens (1, T, C) numpy, the first block's output
        for `x`, and `logits(tokens)` the (1, classes) output from them,
        written with the model's own layers.
    """
    backbone = model.backbone
    encoder = backbone.get_layer("vit_encoder")

    def block(layer, tokens):
        out = layer(tokens)
        return out[0] if isinstance(out, (tuple, list)) else out

    tokens = block(encoder.encoder_layers[0], backbone.get_layer("vit_patching_and_embedding")(x))

    def logits(tokens):
        out = block(encoder.encoder_layers[1], keras.ops.convert_to_tensor(tokens))
        return model.output_dense(encoder.layer_norm(out)[:, 0])

    return keras.ops.convert_to_numpy(tokens), logits


def images(shape=(64, 64, 3), count=1, seed=3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, *shape)).astype(np.float32)


def gradient(score, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(score(tensor), d score / d tensor)` as numpy, by the backend's autodiff.

    Args:
        score: maps a backend tensor to a scalar, written with Keras layers and ops.
        tensor: the point to differentiate at.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        value = tf.constant(tensor)
        with tf.GradientTape() as tape:
            tape.watch(value)
            result = score(value)
        return np.asarray(result), tape.gradient(result, value).numpy()
    if backend == "jax":
        import jax

        result, grad = jax.jit(jax.value_and_grad(score))(jax.numpy.asarray(tensor))
        return np.asarray(result), np.asarray(grad)
    import torch

    value = torch.tensor(tensor, requires_grad=True)
    result = score(value)
    result.backward()
    return result.detach().numpy(), value.grad.numpy()


def gradcam(activations: np.ndarray, gradients: np.ndarray, relu: bool = True) -> np.ndarray:
    """Grad-CAM of one image: activations and gradients (h, w, C) -> map (h, w).

    In [0, 1]; with `relu=False` the signed map divided by its largest magnitude.
    ELI5's normalisation: the divisor gets 1e-7 added, so an all-zero map stays zero.
    """
    activations, gradients = activations.astype(np.float64), gradients.astype(np.float64)
    cam = (activations * gradients.mean(axis=(0, 1))).sum(axis=-1)
    if relu:
        cam = np.maximum(cam, 0)
    return cam / (np.abs(cam).max() + 1e-7)


def cnn_classifier(family: str, size: int = 32):
    """A keras-hub CNN classifier of `family` from a small config, seeded."""
    import keras_hub

    models = keras_hub.models
    keras.utils.set_random_seed(0)
    shape = (size, size, 3)
    if family == "resnet":
        backbone = models.ResNetBackbone(
            input_conv_filters=[64],
            input_conv_kernel_sizes=[3],
            stackwise_num_filters=[64, 64],
            stackwise_num_blocks=[1, 1],
            stackwise_num_strides=[1, 2],
            block_type="basic_block",
            image_shape=shape,
        )
        return models.ResNetImageClassifier(backbone, num_classes=CLASSES)
    if family == "densenet":
        backbone = models.DenseNetBackbone(stackwise_num_repeats=[2, 2], image_shape=shape)
        return models.DenseNetImageClassifier(backbone, num_classes=CLASSES)
    if family == "vgg":
        backbone = models.VGGBackbone(
            stackwise_num_repeats=[1, 1], stackwise_num_filters=[8, 16], image_shape=shape
        )
        return models.VGGImageClassifier(backbone, num_classes=CLASSES, pooling_hidden_dim=16)
    if family == "xception":
        backbone = models.XceptionBackbone(
            stackwise_conv_filters=[[8, 16], [16, 32], [32, 32]],
            stackwise_pooling=[True, True, False],
            image_shape=shape,
        )
        return models.XceptionImageClassifier(backbone, num_classes=CLASSES)
    if family == "efficientnet":
        backbone = models.EfficientNetBackbone(
            width_coefficient=0.25,
            depth_coefficient=0.25,
            stackwise_kernel_sizes=[3, 3],
            stackwise_num_repeats=[1, 1],
            stackwise_input_filters=[32, 16],
            stackwise_output_filters=[16, 24],
            stackwise_expansion_ratios=[1, 6],
            stackwise_squeeze_and_excite_ratios=[0.25, 0.25],
            stackwise_strides=[1, 2],
            stackwise_block_types=["v1", "v1"],
            image_shape=shape,
        )
        return models.EfficientNetImageClassifier(backbone, num_classes=CLASSES)
    if family == "mobilenet":
        backbone = models.MobileNetBackbone(
            stackwise_expansion=[[16], [32, 32]],
            stackwise_num_blocks=[1, 2],
            stackwise_num_filters=[[16], [24, 24]],
            stackwise_kernel_size=[[3], [3, 3]],
            stackwise_num_strides=[[2], [2, 1]],
            stackwise_se_ratio=[[None], [0.25, 0.25]],
            stackwise_padding=[[1], [1, 1]],
            depthwise_stride=2,
            depthwise_residual=False,
            last_layer_filter=48,
            stackwise_activation=[["relu"], ["hard_swish", "hard_swish"]],
            output_num_filters=32,
            input_activation="hard_swish",
            output_activation="hard_swish",
            input_num_filters=16,
            image_shape=shape,
            depthwise_filters=8,
            squeeze_and_excite=0.5,
        )
        return models.MobileNetImageClassifier(backbone, num_classes=CLASSES)
    raise ValueError(f"unknown family {family!r}")


def chain_reference(model, layer_name: str, x: np.ndarray, target: int) -> np.ndarray:
    """Signed Grad-CAM at `layer_name` of a keras-hub classifier, by hand.

    The classifier is a chain of top-level layers (backbone, pooling, head).
    The nested Functional model holding `layer_name` is cut in two at its own
    layer that is, or holds, `layer_name` (for a block that chains its
    sub-layers, the block's output is theirs); the gradient of the class score
    flows through the second half and the top-level layers after it.
    """
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    holder = next(layer for layer in chain if _is_or_holds(layer, layer_name))
    cut = next(layer for layer in holder.layers if _is_or_holds(layer, layer_name))
    hidden = x
    for layer in chain[: chain.index(holder)]:
        hidden = layer(hidden)
    rest = chain[chain.index(holder) + 1 :]
    if isinstance(holder, keras.Sequential):  # VGG's head: run its layers one by one
        inner = holder.layers
        for layer in inner[: inner.index(cut) + 1]:
            hidden = layer(hidden)
        activations = keras.ops.convert_to_numpy(hidden)
        tail_layers = inner[inner.index(cut) + 1 :]

        def tail(a):
            for layer in tail_layers:
                a = layer(a)
            return a
    else:
        activations = keras.ops.convert_to_numpy(keras.Model(holder.input, cut.output)(hidden))
        tail = None if cut.output is holder.output else keras.Model(cut.output, holder.output)

    def score(a):
        out = a if tail is None else tail(a)
        for layer in rest:
            out = layer(out)
        return out[0, target]

    _, grads = gradient(score, activations)
    return gradcam(activations[0], grads[0], relu=False)


def _is_or_holds(layer, name: str) -> bool:
    return layer.name == name or any(
        inner.name == name for inner in layer._flatten_layers(include_self=False)
    )
