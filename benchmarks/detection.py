"""Detectors: Grad-CAM of one detection and D-RISE against the detector's compiled forward pass.

Usage:
    KERAS_BACKEND=jax PYTHONPATH=src python benchmarks/detection.py [--quick] [--budget SECONDS]
        [--masks N]

The detector: keras-hub's `RetinaNetObjectDetector` built from a config (nothing
downloaded), seeded random weights: a ResNet backbone of basic blocks (64, 64,
128, 256 filters), a feature pyramid P3 to P7, 3 classes, 256x256 inputs; its
box head's last kernel scaled down so that random weights decode to boxes of
sane sizes, its decoder's confidence threshold lowered to 0.05 so that random
weights detect something.

For batch sizes 1 and 8, one loop calls, in turn: the detector's compiled forward
pass (TF tf.function, JAX jax.jit over stateless_call, torch eager under
no_grad; numpy in and out), `camlens.Explainer(detector)(x, targets=Box(...))`
and `camlens.Explainer(detector)(x, targets=Detections(k=1))`: Grad-CAM of one
detection per image at its anchor's pyramid level. Each call runs a forward
pass (the predictions, to decode and match), for `Detections` the model's own
decoding (keras-hub's non-max suppression), then the classification head of the
detection's level alone, forward and backward, on the window of that level's values
from the first pass that the anchor's logit reads (`camlens.api.detection_heads`,
`camlens.api.detection_crops`). A second loop, one image, times D-RISE
with N masks (`mask_batch_size=N`: one batch) against the forward pass on N
images, the masked passes it needs. Calls are interleaved; after the warm-up
(two calls each), the medians and the ratios of medians.
"""

from __future__ import annotations

import os
import time
from functools import partial

import keras
import numpy as np

import camlens
import models as bench
from camlens.methods import Method, register
from camlens.methods.drise import method_maps
from camlens.targets import Box, Detections

SIZE = 256


def retinanet():
    import keras_hub

    keras.utils.set_random_seed(bench.SEED)
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 64, 128, 256],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
        image_shape=(SIZE, SIZE, 3),
    )
    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=encoder, min_level=3, max_level=7, use_p5=True, image_shape=(SIZE, SIZE, 3)
    )
    detector = keras_hub.models.RetinaNetObjectDetector(backbone, num_classes=3)
    kernel, bias = detector.box_head.prediction_layer.get_weights()
    detector.box_head.prediction_layer.set_weights([kernel * 0.1, bias * 0])
    detector.prediction_decoder = keras_hub.layers.NonMaxSuppression(
        bounding_box_format="yxyx", from_logits=True, confidence_threshold=0.05
    )
    return detector


def main() -> None:
    parser = bench.argument_parser(__doc__, quick="few rounds", full=None, models={"retinanet": 0})
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of rounds per row")
    parser.add_argument("--masks", type=int, default=32, help="D-RISE's masks (N)")
    args = parser.parse_args()
    rounds = {1: 5, 8: 3} if args.quick else {1: 15, 8: 7}
    bench.header(
        "Detectors: warm latency (ms, median after warm-up, calls interleaved)", args.quick
    )
    print(f"load average before: {os.getloadavg()[0]:.2f}\n")
    detector = retinanet()
    forward = bench.compiled_forward(detector)
    explainer = camlens.Explainer(detector)
    print(bench.table(HEADERS, []), flush=True)
    for batch in (1, 8):
        x = bench.random_images(batch, shape=(SIZE, SIZE, 3))
        maps = explainer(x, targets=Detections(k=1))
        found = int(np.sum(maps.targets >= 0))
        box = Box([64, 64, 192, 192], iou=0.05)  # the best match in each image
        calls = {
            "forward": partial(forward, x),
            "box": partial(explainer, x, targets=box),
            "gradcam": partial(explainer, x, targets=Detections(k=1)),
        }
        medians, done = bench.interleaved(calls, rounds[batch], 2, args.budget)
        print(
            bench.row(
                [
                    batch,
                    f"{found} of {batch}",
                    ", ".join(maps.layers or []),
                    bench.ms(medians["forward"]),
                    bench.ms(medians["box"]),
                    bench.ratio(medians["box"], medians["forward"]),
                    bench.ms(medians["gradcam"]),
                    bench.ratio(medians["gradcam"], medians["forward"]),
                    done,
                ]
            ),
            flush=True,
        )
    masks = args.masks
    register(
        Method(
            f"drise-{masks}",
            "D-RISE",
            raw_maps=method_maps(masks),
            gradients=False,
            uses_layer=False,
            detections_only=True,
        )
    )
    drise = camlens.Explainer(detector, method=f"drise-{masks}", mask_batch_size=masks)
    x = bench.random_images(1, shape=(SIZE, SIZE, 3))
    masked = bench.random_images(masks, seed=5, shape=(SIZE, SIZE, 3))
    drise(x, targets=Detections(k=1))
    calls = {
        "masked forward": partial(forward, masked),
        "drise": partial(drise, x, targets=Detections(k=1)),
    }
    begin = time.perf_counter()
    medians, done = bench.interleaved(calls, rounds[8], 2, args.budget)
    print(f"\n## D-RISE, one image, {masks} masks in one batch\n")
    print(bench.table(DRISE_HEADERS, []))
    print(
        bench.row(
            [
                masks,
                bench.ms(medians["masked forward"]),
                bench.ms(medians["drise"]),
                bench.ratio(medians["drise"], medians["masked forward"]),
                done,
            ]
        )
    )
    print(f"\n({time.perf_counter() - begin:.0f} s)")
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print(NOTES.format(budget=f"{args.budget:.0f} s"))


HEADERS = [
    "batch",
    "detections explained",
    "levels read",
    "forward",
    "Grad-CAM, Box",
    "Box / forward",
    "Grad-CAM, Detections(k=1)",
    "Detections / forward",
    "rounds",
]
DRISE_HEADERS = ["masks", "forward on that many images", "D-RISE", "D-RISE / forward", "rounds"]

NOTES = """\
forward: the compiled forward pass of the detector on the same batch, its outputs
(box regression and class logits of every anchor) as numpy. Grad-CAM, Box:
camlens.Explainer(detector)(x, targets=Box([64, 64, 192, 192], iou=0.05)), the
prediction of each image that best matches that box, its map at its
anchor's pyramid level: one forward pass to decode and match (numpy), then the
level's classification head alone, forward and backward, on the window of the
level the anchor's logit reads. Grad-CAM, Detections(k=1): each
image's most confident detection of the model's own decoding, keras-hub's
decode_predictions (its non-max suppression; compiled once by jax.jit or
tf.function, eager on torch) between the two passes. D-RISE: Explainer(detector, method="drise-N",
mask_batch_size=N)(x, targets=Detections(k=1)) on one image: the first pass,
then N masked images in one batch, each compared with the detection in numpy.
Ratios are ratios of medians. Time budget per row: {budget}."""


if __name__ == "__main__":
    main()
