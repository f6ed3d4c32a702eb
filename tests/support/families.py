"""More keras-hub image classifier families from small configs, seeded: MiT
(SegFormer's encoder), HGNetV2, CSPNet and MobileNetV5, and a DINOv3. Nothing downloads."""

from __future__ import annotations

import keras

CLASSES = 4


def classifier(family: str, size: int = 32):
    import keras_hub

    models = keras_hub.models
    keras.utils.set_random_seed(0)
    shape = (size, size, 3)
    if family == "mit":
        return models.MiTImageClassifier(mit_backbone(size), num_classes=CLASSES)
    if family == "hgnetv2":
        backbone = models.HGNetV2Backbone(
            depths=[1, 1],
            embedding_size=16,
            hidden_sizes=[16, 32],
            stem_channels=[3, 8, 16],
            hidden_act="relu",
            use_learnable_affine_block=False,
            stackwise_stage_filters=[(16, 8, 16, 1, 1, 3), (16, 16, 32, 1, 1, 3)],
            apply_downsample=[False, True],
            use_lightweight_conv_block=[False, False],
            image_shape=shape,
        )
        return models.HGNetV2ImageClassifier(backbone, preprocessor=None, num_classes=CLASSES)
    if family == "cspnet":
        backbone = models.CSPNetBackbone(
            stem_filters=8,
            stem_kernel_size=3,
            stem_strides=1,
            stackwise_depth=[1, 1],
            stackwise_strides=[1, 2],
            stackwise_num_filters=[16, 32],
            block_type="dark_block",
            stage_type="dark",
            image_shape=shape,
        )
        return models.CSPNetImageClassifier(backbone, num_classes=CLASSES)
    if family == "mobilenetv5":
        backbone = models.MobileNetV5Backbone(
            stackwise_block_types=[["er"], ["uir", "uir"]],
            stackwise_num_blocks=[1, 2],
            stackwise_num_filters=[[16], [24, 24]],
            stackwise_strides=[[2], [2, 1]],
            stackwise_act_layers=[["relu"], ["relu", "relu"]],
            stackwise_exp_ratios=[[4.0], [4.0, 4.0]],
            stackwise_se_ratios=[[0.0], [0.0, 0.0]],
            stackwise_dw_kernel_sizes=[[0], [3, 3]],
            stackwise_dw_start_kernel_sizes=[[0], [0, 0]],
            stackwise_dw_end_kernel_sizes=[[0], [0, 0]],
            stackwise_exp_kernel_sizes=[[3], [0, 0]],
            stackwise_pw_kernel_sizes=[[1], [0, 0]],
            stackwise_num_heads=[[0], [0, 0]],
            stackwise_key_dims=[[0], [0, 0]],
            stackwise_value_dims=[[0], [0, 0]],
            stackwise_kv_strides=[[0], [0, 0]],
            stackwise_use_cpe=[[False], [False, False]],
            num_features=32,
            use_msfa=False,
            image_shape=shape,
        )
        return models.MobileNetV5ImageClassifier(backbone, num_classes=CLASSES)
    raise ValueError(f"unknown family {family!r}")


def mit_backbone(size: int = 32):
    """A two-stage MiT (SegFormer's encoder), unseeded: its caller seeds."""
    import keras_hub

    return keras_hub.models.MiTBackbone(
        layerwise_depths=[1, 1],
        num_layers=2,
        layerwise_num_heads=[1, 2],
        layerwise_sr_ratios=[2, 1],
        max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2],
        hidden_dims=[8, 16],
        image_shape=(size, size, 3),
    )


def dinov2(hidden_dim: int = 32, register_tokens: int = 0, size: int = 56):
    """A headless two-block DINOv2 on a 4x4 grid of 14 px patches (56 px), seeded."""
    import keras_hub

    keras.utils.set_random_seed(0)
    return keras_hub.models.DINOV2Backbone(
        patch_size=14,
        num_layers=2,
        hidden_dim=hidden_dim,
        num_heads=2,
        intermediate_dim=2 * hidden_dim,
        num_register_tokens=register_tokens,
        image_shape=(size, size, 3),
        position_embedding_shape=(size, size, 3),
    )


def dinov3(size: int = 32):
    """A headless DINOv3 with four register tokens, on a 4x4 grid of 8 px patches."""
    import keras_hub

    keras.utils.set_random_seed(0)
    return keras_hub.models.DINOV3Backbone(
        patch_size=8,
        num_layers=2,
        hidden_dim=32,
        num_heads=2,
        intermediate_dim=64,
        num_register_tokens=4,
        image_shape=(size, size, 3),
    )
