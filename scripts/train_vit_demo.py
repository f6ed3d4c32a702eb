"""Trains a small keras-hub ViT on the demo shapes, for the README's ViT picture.

The model is a `keras_hub.models.ViTImageClassifier` built from a config (nothing
downloads) with its own preprocessor: the 64x64 demo images are resized to the
model's input and scaled to [-1, 1] by a `ViTImageConverter`, so a raw demo image
goes through `camlens.explain_prediction(model, x, preprocess=model.preprocessor)`.
Note that `model.predict` applies the preprocessor itself: pass it raw images.

Training is seeded; every epoch sees freshly generated images, randomly flipped
and rotated (the classes are invariant), and the held-out accuracy is printed
after each epoch. Two initialisations help a ViT without a locality prior: the
position embeddings start from 2-D sine-cosine tables, and each attention head
starts "mimetic" (Trockman & Kolter, "Mimetic Initialization of Self-Attention
Layers", ICML 2023).

Status: the defaults (64x64, patch 8, 3 blocks of width 64, average pooling over
the tokens) are the only configuration tried that left chance within 8 minutes
on a shared 2-core CPU. The README's picture comes from 50 epochs of 4000 images
(980 s on TensorFlow, the CPU shared with a test run): 0.571 held-out accuracy on
1000 images (5 classes), the loss still falling (1.24 at epoch 25, 0.92 at 50).
A longer run, or a GPU, would give a better model.

Usage:
    PYTHONPATH=src python scripts/train_vit_demo.py --epochs 50 --output vit_demo.keras
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "scripts"))

import keras  # noqa: E402
import keras_hub  # noqa: E402
from train_demo_model import random_dihedral  # noqa: E402

from camlens.demo.shapes import CLASS_NAMES, make_dataset  # noqa: E402

WEIGHTS_SEED = 42  # keras.utils.set_random_seed: initial weights, shuffling
AUGMENT_SEED = 43  # numpy: the random flips/rotations
TRAIN_DATA_SEED = 1000  # epoch e trains on make_dataset(..., seed=TRAIN_DATA_SEED + e)
HELD_OUT_DATA_SEED = 2


def build_classifier(args) -> keras_hub.models.ViTImageClassifier:
    """The ViT classifier with its preprocessor (resize to the input, scale to [0, 1])."""
    size = args.image_size
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(size, size, 3),
        patch_size=args.patch_size,
        num_layers=args.blocks,
        num_heads=args.heads,
        hidden_dim=args.width,
        mlp_dim=args.mlp_ratio * args.width,
    )
    if args.centered:  # [-1, 1]
        converter = keras_hub.layers.ViTImageConverter(
            image_size=(size, size), scale=2 / 255, offset=-1.0
        )
    else:
        converter = keras_hub.layers.ViTImageConverter(image_size=(size, size), scale=1 / 255)
    preprocessor = keras_hub.models.ViTImageClassifierPreprocessor(image_converter=converter)
    return keras_hub.models.ViTImageClassifier(
        backbone,
        num_classes=len(CLASS_NAMES),
        preprocessor=preprocessor,
        pooling=args.pooling,
        activation="softmax",
    )


def sincos_positions(grid: int, width: int, prefix: int) -> np.ndarray:
    """2-D sine-cosine position table `(prefix + grid**2, width)`; prefix rows are 0."""
    quarter = width // 4
    freqs = 1.0 / 10000 ** (np.arange(quarter) / quarter)
    ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    parts = []
    for coord in (ys.ravel(), xs.ravel()):
        angles = coord[:, None] * freqs[None, :]
        parts += [np.sin(angles), np.cos(angles)]
    table = np.concatenate(parts, axis=1)
    table = np.pad(table, ((prefix, 0), (0, width - table.shape[1])))
    return table.astype("float32")


def low_rank_pair(target: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """`(a, b)` of shapes `(d, rank)`, `(rank, d)` with `a @ b` the best rank-`rank` fit."""
    u, s, vt = np.linalg.svd(target)
    root = np.sqrt(s[:rank])
    return u[:, :rank] * root, root[:, None] * vt[:rank]


def mimetic_init(backbone, rng: np.random.Generator) -> None:
    """Sets every block's attention weights so that each head starts near 0.7 (Z + I)
    for queries times keys and 0.4 (Z - I) for values times output (Z ~ N(0, 1/d))."""
    for layer in backbone.get_layer("vit_encoder").encoder_layers:
        mha = layer.mha
        d, heads, k = mha.query_dense.kernel.shape
        q, key, v = (np.zeros((d, heads, k), "float32") for _ in range(3))
        out = np.zeros((heads, k, d), "float32")
        for h in range(heads):
            z = rng.normal(0.0, 1.0 / np.sqrt(d), size=(d, d))
            a, b = low_rank_pair(0.7 * (z + np.eye(d)), k)
            q[:, h], key[:, h] = a, b.T
            z = rng.normal(0.0, 1.0 / np.sqrt(d), size=(d, d))
            a, b = low_rank_pair(0.4 * (z - np.eye(d)), k)
            v[:, h], out[h] = a, b
        mha.query_dense.kernel.assign(q)
        mha.key_dense.kernel.assign(key)
        mha.value_dense.kernel.assign(v)
        mha.output_dense.kernel.assign(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=22)
    parser.add_argument("--epoch-size", type=int, default=4000)
    parser.add_argument("--held-out-size", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--patch-size", type=int, default=8)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--mlp-ratio", type=int, default=2)
    parser.add_argument("--pooling", choices=("token", "gap"), default="gap")
    parser.add_argument(
        "--no-centering",
        dest="centered",
        action="store_false",
        help="scale pixels to [0, 1], not [-1, 1]",
    )
    parser.add_argument(
        "--sincos",
        type=float,
        default=1.0,
        help="start the position embeddings from 2-D sine-cosine tables "
        "of this amplitude (0: keras-hub's random init)",
    )
    parser.add_argument(
        "--no-mimetic",
        dest="mimetic",
        action="store_false",
        help="mimetic attention init (Trockman & Kolter 2023): "
        "W_q W_k^T ~ 0.7 (Z + I), W_v W_o ~ 0.4 (Z - I) per head",
    )
    args = parser.parse_args()

    keras.utils.set_random_seed(WEIGHTS_SEED)
    start = time.perf_counter()
    classifier = build_classifier(args)
    preprocessor = classifier.preprocessor
    if args.mimetic:
        mimetic_init(classifier.backbone, np.random.default_rng(WEIGHTS_SEED))
    if args.sincos > 0:
        embedding = classifier.backbone.get_layer("vit_patching_and_embedding")
        table = embedding.position_embedding.embeddings
        grid = args.image_size // args.patch_size
        table.assign(args.sincos * sincos_positions(grid, args.width, table.shape[0] - grid**2))
    classifier.preprocessor = None  # training data are preprocessed below

    def prepare(images):
        return keras.ops.convert_to_numpy(preprocessor(images))

    held_out = make_dataset(args.held_out_size, seed=HELD_OUT_DATA_SEED)
    held_out_x = prepare(held_out.images)
    steps_per_epoch = -(-args.epoch_size // args.batch_size)
    steps = args.epochs * steps_per_epoch
    warmup = max(1, steps // 10)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=steps - warmup,
        warmup_target=args.learning_rate,
        warmup_steps=warmup,
        alpha=0.01,
    )
    optimizer = keras.optimizers.AdamW(
        schedule, weight_decay=args.weight_decay, global_clipnorm=1.0
    )
    classifier.compile(
        optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    print(
        f"params: {classifier.count_params()}, grid "
        f"{args.image_size // args.patch_size}x{args.image_size // args.patch_size}"
    )

    rng = np.random.default_rng(AUGMENT_SEED)
    accuracy = 0.0
    for epoch in range(args.epochs):
        data = make_dataset(args.epoch_size, seed=TRAIN_DATA_SEED + epoch)
        images = random_dihedral(data.images, rng)
        history = classifier.fit(
            prepare(images), data.labels, batch_size=args.batch_size, epochs=1, verbose=0
        )
        probs = classifier.predict(held_out_x, batch_size=256, verbose=0)
        accuracy = float(np.mean(np.argmax(probs, -1) == held_out.labels))
        print(
            f"epoch {epoch + 1}: loss {history.history['loss'][-1]:.4f}, train acc "
            f"{history.history['accuracy'][-1]:.4f}, held-out acc {accuracy:.4f}, "
            f"{time.perf_counter() - start:.0f}s",
            flush=True,
        )

    classifier.preprocessor = preprocessor
    args.output.parent.mkdir(parents=True, exist_ok=True)
    classifier.save(args.output)
    print(
        f"held-out accuracy: {accuracy:.4f} on {len(held_out)} images; "
        f"saved {args.output} ({args.output.stat().st_size / 1024:.0f} KB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
