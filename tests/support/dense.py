"""Models with dense outputs (segmentation and regression maps), from small configs.

keras-hub's SegFormer, DeepLabV3, BASNet and DepthAnything, and a small U-Net a
user would write, all with seeded random weights; nothing downloads.
"""

from __future__ import annotations

import keras
import numpy as np

from support import families

SIZE = 32
CLASSES = 3


def segformer():
    import keras_hub

    keras.utils.set_random_seed(0)
    encoder = families.mit_backbone(SIZE)
    backbone = keras_hub.models.SegFormerBackbone(image_encoder=encoder, projection_filters=8)
    return keras_hub.models.SegFormerImageSegmenter(backbone=backbone, num_classes=CLASSES)


def resnet_encoder(image_shape=(SIZE, SIZE, 3), stages: int = 2, stem: int = 64):
    import keras_hub

    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[stem],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64] * stages,
        stackwise_num_blocks=[1] * stages,
        stackwise_num_strides=[1] + [2] * (stages - 1),
        block_type="basic_block",
        image_shape=image_shape,
    )


def deeplab():
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=resnet_encoder(),
        spatial_pyramid_pooling_key="P3",
        upsampling_size=2,
        dilation_rates=[1, 2],
        low_level_feature_key="P2",
        projection_filters=8,
        image_shape=(SIZE, SIZE, 3),
    )
    return keras_hub.models.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=CLASSES)


def basnet():
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BASNetBackbone(
        # its first stage takes the stem's 64 channels; its decoder 8 times as many
        image_encoder=resnet_encoder(image_shape=(None, None, 3), stages=4),
        num_classes=1,
        image_shape=(SIZE, SIZE, 3),
        projection_filters=64,
    )
    return keras_hub.models.BASNetImageSegmenter(backbone=backbone)


def unet() -> keras.Model:
    """A small U-Net regressing a one-channel map (a density or heat map) at full size."""
    inputs = keras.Input((SIZE, SIZE, 3))
    down = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="down")(inputs)
    pooled = keras.layers.MaxPooling2D(name="pool")(down)
    bottom = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="bottom")(pooled)
    up = keras.layers.UpSampling2D(name="up")(bottom)
    merged = keras.layers.Concatenate(name="skip")([up, down])
    features = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="decoder")(merged)
    heat = keras.layers.Conv2D(1, 1, activation="softplus", name="heat")(features)
    model = keras.Model(inputs, heat, name="unet")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def depth_anything():
    """A DepthAnything depth estimator on a two-block DINOv2 (a 4x4 patch grid)."""
    import keras_hub

    encoder = families.dinov2(hidden_dim=16)
    backbone = keras_hub.models.DepthAnythingBackbone(
        image_encoder=encoder,
        reassemble_factors=[2, 1],
        neck_hidden_dims=[8, 16],
        fusion_hidden_dim=16,
        head_hidden_dim=8,
        head_in_index=-1,
        feature_keys=["stage1", "stage2"],
    )
    return keras_hub.models.DepthAnythingDepthEstimator(
        backbone=backbone, depth_estimation_type="relative"
    )
