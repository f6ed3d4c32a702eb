"""Score-CAM: camlens vs the batched masked forward passes it needs.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/scorecam.py [--quick | --full]
        [--layer NAME] [--mask-batch-size 64] [--rounds N]

Score-CAM on MobileNetV2 (random weights, BatchNorm calibrated) for one image
needs one forward pass per channel of the explained layer, with the image masked
by that channel's upsampled activation map. The reference is that many forward
passes of the compiled forward pass (models.py), in batches of the mask batch
size: ceil(C / 64) calls on (64, 224, 224, 3) inputs (the last one smaller when
64 does not divide C). One round calls `Explainer(model, layer, "scorecam",
mask_batch_size=64)(x)` and then the reference; after the warm-up (below), the
table gives the medians of `--rounds` rounds and their ratio.

The reference is the same on every backend, so the ratio measures what camlens
adds: the explain pass for the image, building the masks (upsampling and
normalising each channel, multiplying the image) and the weighting. The layer
defaults to `block_16_project_BN` (320 channels, 5 batches of 64) so that a run
fits in a few minutes on a shared 2-core CPU; torch, whose MobileNetV2 forward
pass on CPU is many times slower than TensorFlow's (depthwise convolutions), uses
`block_9_project_BN` (64 channels, 1 batch). `--full` explains `out_relu`, the
last conv layer (1280 channels, 20 batches of 64), on every backend.
`--quick`: `block_9_project_BN`, 2 rounds. Default: 3 rounds.

Warm-up: camlens is called twice on TensorFlow (a one-off call runs eagerly, the
second traces), once elsewhere; the reference once.
"""

from __future__ import annotations

import argparse
import math

import camlens
import models as bench

LAYERS = {
    "tensorflow": "block_16_project_BN",
    "jax": "block_16_project_BN",
    "torch": "block_9_project_BN",
}
QUICK_LAYER = "block_9_project_BN"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64-channel layer, 2 rounds")
    parser.add_argument(
        "--full", action="store_true", help="out_relu (1280 channels) on every backend"
    )
    parser.add_argument("--layer", default=None, help="layer of MobileNetV2 to explain")
    parser.add_argument("--mask-batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    name = "mobilenetv2"
    if args.layer:
        layer = args.layer
    elif args.quick:
        layer = QUICK_LAYER
    elif args.full:
        layer = "out_relu"
    else:
        layer = LAYERS[bench.backend()]
    rounds = args.rounds or (2 if args.quick else 3)
    size = args.mask_batch_size
    bench.header("Score-CAM, one image (s, median after warm-up)", args.quick)
    model = bench.build_model(name)
    channels = model.get_layer(layer).output.shape[-1]
    chunks = [min(size, channels - start) for start in range(0, channels, size)]
    if layer != "out_relu":
        print(
            f"Explaining {layer} ({channels} channels), not the last conv layer "
            "out_relu (1280 channels), to keep the run short: --full or --layer "
            "out_relu for that one.\n"
        )
    explainer = camlens.Explainer(model, layer=layer, method="scorecam", mask_batch_size=size)
    forward = bench.compiled_forward(model)
    image = bench.random_images(1)
    masked = bench.random_images(size, seed=5)

    def reference():
        for count in chunks:
            forward(masked[:count])

    for _ in range(2 if bench.backend() == "tensorflow" else 1):
        explainer(image)
    reference()
    medians, done = bench.interleaved(
        {"camlens": lambda: explainer(image), "reference": reference}, rounds, warmup=0
    )
    print(
        bench.table(
            HEADERS,
            [
                [
                    bench.MODELS[name][0],
                    f"{layer} ({channels})",
                    f"{len(chunks)} x {size}"
                    if len(set(chunks)) == 1
                    else f"{len(chunks)} (last {chunks[-1]})",
                    f"{medians['reference']:.2f}",
                    f"{medians['camlens']:.2f}",
                    bench.ratio(medians["camlens"], medians["reference"]),
                    done,
                ]
            ],
        )
    )
    print()
    print(NOTES.format(batches=math.ceil(channels / size), size=size))


HEADERS = [
    "model",
    "layer (channels)",
    "forward batches",
    "masked forward passes",
    "camlens Score-CAM",
    "camlens / forward passes",
    "rounds",
]

NOTES = """\
masked forward passes: {batches} calls of the compiled forward pass on batches of
up to {size} images. camlens Score-CAM: Explainer(model, layer, method="scorecam",
mask_batch_size={size})(x) for one image: one explain pass, the masks (upsampled,
normalised activations), the masked passes, the weighting."""


if __name__ == "__main__":
    main()
