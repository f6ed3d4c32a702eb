"""Warm Grad-CAM for prompts on a CLIP vision tower and for Similarity on a DINOv2,
against their compiled forward passes.

Usage:
    KERAS_BACKEND=jax PYTHONPATH=src python benchmarks/image_text.py [--quick]
        [--rounds N] [--batches 1,32] [--prompts 1,8] [--parts clip,dinov2]

Models (keras-hub, random weights, nothing downloads):

- CLIP with a ViT-B/16-shaped vision tower (224 px, 12 blocks of width 768, 12
  heads, MLP 3072) and a small text tower (2 blocks of width 64: the text side
  runs once per prompt and is cached, so its size does not enter the warm
  figures). `forward` is the compiled image side for the same prompts (the
  vision tower, its projection and the logits against the prompts' text
  embeddings, given); `camlens` is `Explainer(clip)(images, targets=[Prompt(ids),
  ...])` for 1 and for 8 prompts.
- DINOv2-S/14-shaped (224 px, 12 blocks of width 384, 6 heads, MLP 1536, no
  register tokens): `forward` is the compiled backbone, `camlens` is
  `Explainer(dinov2)(images, targets=Similarity(vector))` (its class token: from
  the explainer's second call, the last block's class-token row for the score).

Calls interleaved in one loop, medians after warm-up (two warm-up calls on
TensorFlow, whose first camlens call runs eagerly, one elsewhere). `--quick`:
a 4-block tower at batch 1 only, to check the script.
"""

from __future__ import annotations

from functools import partial

import keras
import numpy as np

import camlens
import models as bench
from camlens.model.image_text import image_side
from camlens.targets import Prompt, Similarity


def clip(layers: int) -> keras.Model:
    import keras_hub

    keras.utils.set_random_seed(bench.SEED)
    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=16,
        hidden_dim=768,
        num_layers=layers,
        num_heads=12,
        intermediate_dim=3072,
        image_shape=(224, 224, 3),
    )
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=1000,
        embedding_dim=64,
        hidden_dim=64,
        num_layers=2,
        num_heads=2,
        intermediate_dim=128,
        max_sequence_length=16,
    )
    return keras_hub.models.CLIPBackbone(vision, text, projection_dim=512)


def dinov2(layers: int) -> keras.Model:
    import keras_hub

    keras.utils.set_random_seed(bench.SEED)
    return keras_hub.models.DINOV2Backbone(
        patch_size=14,
        num_layers=layers,
        hidden_dim=384,
        num_heads=6,
        intermediate_dim=1536,
        image_shape=(224, 224, 3),
        position_embedding_shape=(224, 224, 3),
    )


def prompts(count: int) -> list:
    rng = np.random.default_rng(bench.SEED)
    return [Prompt(rng.integers(1, 999, 16)) for _ in range(count)]


def main() -> None:
    parser = bench.argument_parser(__doc__, quick="a 4-block tower, batch 1", full=None)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per row")
    parser.add_argument("--batches", default="1,32", help="comma-separated batch sizes")
    parser.add_argument("--prompts", default="1,8", help="comma-separated prompt counts")
    parser.add_argument("--parts", default="clip,dinov2", help="clip, dinov2 or both")
    args = parser.parse_args()
    counts = [int(c) for c in args.prompts.split(",")]
    parts = args.parts.split(",")
    layers = 4 if args.quick else 12
    batches = [1] if args.quick else [int(b) for b in args.batches.split(",")]
    warmup = 2 if bench.backend() == "tensorflow" else 1
    bench.header("Image–text and similarity: warm Grad-CAM vs forward (ms, medians)", args.quick)
    print(bench.table(HEADERS, []), flush=True)
    if "clip" in parts:
        _clip_rows(layers, batches, counts, args.rounds, warmup)
    if "dinov2" in parts:
        _dinov2_rows(layers, batches, args.rounds, warmup)


def _clip_rows(layers: int, batches: list, counts: list, rounds: int, warmup: int) -> None:
    backbone = clip(layers)
    explainer = camlens.Explainer(backbone)
    side = image_side(backbone)
    forward = bench.compiled_forward(side)
    targets = {count: prompts(count) for count in counts}
    for batch in batches:
        images = bench.random_images(batch)
        for count in counts:
            text = side.text_embeddings([p.token_ids for p in targets[count]])
            calls = {
                "forward": partial(forward, {"images": images, "text_embeddings": text}),
                "camlens": partial(explainer, images, targets=targets[count]),
            }
            medians, done = bench.interleaved(calls, rounds, warmup)
            name = f"CLIP ViT-B/16 tower, {count} prompt{'s' if count > 1 else ''}"
            print(bench.row(_row(name, batch, medians, done)), flush=True)
    print(f"(CLIP: explained at {explainer.layer.name!r})", flush=True)


def _dinov2_rows(layers: int, batches: list, rounds: int, warmup: int) -> None:
    model = dinov2(layers)
    similar = camlens.Explainer(model)
    forward = bench.compiled_forward(model)
    reference = np.random.default_rng(bench.SEED).normal(size=384).astype(np.float32)
    for batch in batches:
        images = bench.random_images(batch)
        calls = {
            "forward": partial(forward, {"images": images}),
            "camlens": partial(similar, images, targets=Similarity(reference)),
        }
        medians, done = bench.interleaved(calls, rounds, warmup)
        print(bench.row(_row("DINOv2-S/14, Similarity", batch, medians, done)), flush=True)
    print(f"(DINOv2: explained at {similar.layer.name!r})")


HEADERS = ["model, target", "batch", "forward", "camlens", "camlens / forward", "rounds"]


def _row(name: str, batch: int, medians: dict, rounds: int) -> list:
    forward, explained = medians["forward"], medians["camlens"]
    return [
        name,
        batch,
        bench.ms(forward),
        bench.ms(explained),
        bench.ratio(explained, forward),
        rounds,
    ]


if __name__ == "__main__":
    main()
