"""Detectors built from small configs (seeded, nothing downloaded), and numpy
references of what camlens must find in them.

- `retinanet()`: keras-hub's RetinaNet, ResNet backbone, 128x128 input, 3
  classes; its box head's last kernel scaled down so that random weights
  decode to boxes of sane sizes.
- `dfine()`: keras-hub's D-FINE with a tiny HGNetV2, 20 queries.
- `centernet()`: a detector of one's own, CenterNet-style: a grid of cells,
  each predicting a box (yxyx pixels) and class logits, outputs named
  `"boxes"` and `"classes"` (the convention camlens reads without a
  `DetectionHead`).
"""

from __future__ import annotations

import keras
import numpy as np

CLASSES = 3
SIZE = 128


def retinanet(decoder_threshold: float = 0.05):
    """RetinaNet; its decoder keeps detections of confidence above `decoder_threshold`
    (keras-hub's default 0.5 finds none with random weights)."""
    import keras_hub

    keras.utils.set_random_seed(0)
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16, 16, 16],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
        image_shape=(SIZE, SIZE, 3),
    )
    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=encoder, min_level=3, max_level=7, use_p5=True, image_shape=(SIZE, SIZE, 3)
    )
    detector = keras_hub.models.RetinaNetObjectDetector(
        backbone, num_classes=CLASSES, pre_logits_num_conv_layers=1
    )
    kernel, bias = detector.box_head.prediction_layer.get_weights()
    detector.box_head.prediction_layer.set_weights([kernel * 0.1, bias * 0])
    detector.prediction_decoder = keras_hub.layers.NonMaxSuppression(
        bounding_box_format="yxyx", from_logits=True, confidence_threshold=decoder_threshold
    )
    return detector


def dfine(decoder_threshold: float = 0.05):
    """D-FINE with 20 queries over two encoder levels (8x8 and 4x4 at 128x128)."""
    from keras_hub.layers import NonMaxSuppression
    from keras_hub.models import DFineBackbone, DFineObjectDetector, HGNetV2Backbone

    keras.utils.set_random_seed(0)
    encoder = HGNetV2Backbone(
        stem_channels=[3, 8, 8],
        stackwise_stage_filters=[
            [8, 8, 16, 1, 3, 3],
            [16, 16, 32, 1, 3, 3],
            [32, 16, 64, 1, 3, 3],
            [64, 16, 64, 1, 3, 3],
        ],
        apply_downsample=[False, True, True, True],
        use_lightweight_conv_block=[False, False, True, True],
        depths=[1, 1, 1, 1],
        hidden_sizes=[16, 32, 64, 64],
        embedding_size=8,
        use_learnable_affine_block=True,
        hidden_act="relu",
        image_shape=(SIZE, SIZE, 3),
        out_features=["stage3", "stage4"],
    )
    backbone = DFineBackbone(
        backbone=encoder,
        decoder_in_channels=[32, 32],
        encoder_hidden_dim=32,
        num_denoising=0,
        num_labels=CLASSES,
        hidden_dim=32,
        learn_initial_query=False,
        num_queries=20,
        anchor_image_size=(SIZE, SIZE),
        feat_strides=[16, 32],
        num_feature_levels=2,
        encoder_in_channels=[64, 64],
        encode_proj_layers=[1],
        num_attention_heads=2,
        encoder_ffn_dim=32,
        num_encoder_layers=1,
        hidden_expansion=0.34,
        depth_multiplier=0.5,
        eval_idx=-1,
        num_decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        decoder_n_points=[2, 2],
        lqe_hidden_dim=16,
        num_lqe_layers=1,
        out_features=["stage3", "stage4"],
        image_shape=(SIZE, SIZE, 3),
        seed=0,
    )
    detector = DFineObjectDetector(backbone=backbone, num_classes=CLASSES)
    detector.prediction_decoder = NonMaxSuppression(
        bounding_box_format="yxyx",
        from_logits=True,
        confidence_threshold=decoder_threshold,
        max_detections=20,
    )
    return detector


def centernet(size: int = 64, classes: int = CLASSES, cells: int = 8) -> keras.Model:
    """A CenterNet-style detector: a CNN to a `cells` x `cells` grid; each cell
    predicts class logits and a box (its centre offset and size, decoded in the
    graph to yxyx input pixels). Outputs: {"boxes": (N, cells^2, 4),
    "classes": (N, cells^2, classes)}."""
    keras.utils.set_random_seed(0)
    stride = size // cells
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(stride // 2)(x)
    features = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="features")(x)
    logits = keras.layers.Conv2D(classes, 1, name="class_logits")(features)
    geometry = keras.layers.Conv2D(4, 1, name="box_geometry")(features)
    boxes = CellBoxes(stride, name="cell_boxes")(geometry)
    return keras.Model(
        inputs,
        {
            "boxes": keras.layers.Reshape((-1, 4), name="boxes")(boxes),
            "classes": keras.layers.Reshape((-1, classes), name="classes")(logits),
        },
    )


@keras.saving.register_keras_serializable("camlens_tests")
class CellBoxes(keras.layers.Layer):
    """(N, h, w, 4) raw (dy, dx, log h, log w) per cell -> yxyx input pixels."""

    def __init__(self, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, raw):
        ops = keras.ops
        rows, columns = raw.shape[1], raw.shape[2]
        y = (ops.arange(rows, dtype="float32")[:, None] + 0.5) * self.stride
        x = (ops.arange(columns, dtype="float32")[None, :] + 0.5) * self.stride
        centre_y = y + ops.tanh(raw[..., 0]) * self.stride
        centre_x = x + ops.tanh(raw[..., 1]) * self.stride
        height = ops.exp(ops.clip(raw[..., 2], -4, 4)) * self.stride * 2
        width = ops.exp(ops.clip(raw[..., 3], -4, 4)) * self.stride * 2
        return ops.stack(
            [
                centre_y - height / 2,
                centre_x - width / 2,
                centre_y + height / 2,
                centre_x + width / 2,
            ],
            axis=-1,
        )

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


def images(count: int = 2, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """(count, size, size, 3) float32 in [0, 1]."""
    return np.random.default_rng(seed).uniform(0, 1, (count, size, size, 3)).astype("float32")


def iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(R,) IoU of yxyx `boxes` (R, 4) with `box` (4,), written for the tests."""
    inter_h = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    inter_w = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = inter_h * inter_w
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (areas + (box[2] - box[0]) * (box[3] - box[1]) - inter)


def retinanet_boxes(detector, outputs: dict, size: int = SIZE) -> np.ndarray:
    """(N, R, 4) yxyx: RetinaNet's anchors and deltas decoded in numpy, as the
    paper and keras-hub's `decode_predictions` do (centre_xywh deltas)."""
    anchors = detector.anchor_generator(np.zeros((1, size, size, 3), "float32"))
    anchors = np.concatenate([keras.ops.convert_to_numpy(a) for a in anchors.values()])  # yxyx
    height, width = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    centre_y, centre_x = anchors[:, 0] + height / 2, anchors[:, 1] + width / 2
    deltas = np.asarray(outputs["bbox_regression"], np.float64)
    cx = deltas[..., 0] * width + centre_x
    cy = deltas[..., 1] * height + centre_y
    w = np.exp(deltas[..., 2]) * width
    h = np.exp(deltas[..., 3]) * height
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)


def dfine_boxes(outputs: dict, size: int = SIZE) -> np.ndarray:
    """(N, Q, 4) yxyx pixels of D-FINE's queries ((cx, cy, w, h) as fractions)."""
    cx, cy, w, h = np.moveaxis(np.asarray(outputs["pred_boxes"], np.float64) * size, -1, 0)
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)
