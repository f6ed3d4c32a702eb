"""Trains the small vision transformer the evaluation table scores LeGrad on.

A hybrid ViT (Dosovitskiy et al. 2021, section 3.1): the demo CNN's first four
convolution blocks, frozen with their trained weights, turn the 64x64 image into
a 16x16x48 map; a keras-hub `ViTBackbone` (4 blocks, width 64, 4 heads, class
token) cuts it into 2x2 patches (an 8x8 token grid, one token per 8x8 pixels, as
a patch-8 ViT); the head averages the backbone's normalised tokens and applies a
softmax dense layer. A plain patch-8 ViT (`train_vit_demo.py`) stays near 0.57
held-out accuracy after 16 minutes on this CPU (a from-scratch convolutional stem
had not left chance after two epochs), too weak a model to evaluate
explanations on. The model takes RGB images in [0, 255] (the stem rescales).

Nothing downloads: the backbone is built from a config and the stem is the
shipped demo model's. Training is seeded (weights, data, augmentation): a fixed
set of generated shapes, each randomly flipped and rotated once (the classes are
invariant), whose stem features are computed once; only the transformer and the
head train. The held-out accuracy on fresh images is printed after each epoch.
The docs' model: 8 epochs, 0.989 held-out accuracy on 1000 images, 452 s on JAX
under a load average of about 7 on the shared 2-core machine.

Usage (the docs' model, trained on the JAX backend):
    KERAS_BACKEND=jax python scripts/train_vit_eval.py --output docs/models/vit_shapes.keras
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "scripts"))

import keras  # noqa: E402
import keras_hub  # noqa: E402
from train_demo_model import random_dihedral  # noqa: E402

from camlens.demo.model import load_demo_model  # noqa: E402
from camlens.demo.shapes import CLASS_NAMES, IMAGE_SIZE, make_dataset  # noqa: E402

WEIGHTS_SEED = 42  # keras.utils.set_random_seed: initial weights, shuffling
AUGMENT_SEED = 43  # numpy: the random flips and rotations
TRAIN_DATA_SEED = 1000
HELD_OUT_DATA_SEED = 2
STEM_END = "block4_relu"  # the demo CNN's 16x16x48 map


def build_models(blocks=4, width=64, heads=4) -> tuple[keras.Model, keras.Model]:
    """`(model, head)`: the hybrid ViT on images, and its trainable part on stem features.

    The stem is the demo CNN's layers up to `STEM_END` (frozen, trained weights);
    the ViT backbone (patch 2 on the 16x16 map: an 8x8 token grid), the token
    mean and the softmax dense layer are shared by both models.
    """
    demo = load_demo_model()
    stem_layers = demo.layers[1 : demo.layers.index(demo.get_layer(STEM_END)) + 1]
    channels = demo.get_layer(STEM_END).output.shape[-1]
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(IMAGE_SIZE // 4, IMAGE_SIZE // 4, channels),
        patch_size=2,
        num_layers=blocks,
        num_heads=heads,
        hidden_dim=width,
        mlp_dim=2 * width,
        name="vit",
    )
    pool = keras.layers.GlobalAveragePooling1D(name="token_mean")
    dense = keras.layers.Dense(len(CLASS_NAMES), activation="softmax", name="predictions")

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="images")
    x = inputs
    for layer in stem_layers:
        layer.trainable = False
        x = layer(x)
    model = keras.Model(inputs, dense(pool(backbone(x))), name="vit_shapes")
    features = keras.Input(backbone.input_shape[1:], name="stem_features")
    head = keras.Model(features, dense(pool(backbone(features))), name="vit_head")
    return model, head


def stem_features(images: np.ndarray) -> np.ndarray:
    demo = load_demo_model()
    stem = keras.Model(demo.input, demo.get_layer(STEM_END).output)
    return np.asarray(stem.predict(images, batch_size=250, verbose=0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--held-out-size", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    args = parser.parse_args()

    keras.utils.set_random_seed(WEIGHTS_SEED)
    start = time.perf_counter()
    model, head = build_models()
    train = make_dataset(args.train_size, seed=TRAIN_DATA_SEED)
    held_out = make_dataset(args.held_out_size, seed=HELD_OUT_DATA_SEED)
    rng = np.random.default_rng(AUGMENT_SEED)
    train_x = stem_features(random_dihedral(train.images, rng))
    steps = args.epochs * -(-args.train_size // args.batch_size)
    warmup = max(1, steps // 10)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=steps - warmup,
        warmup_target=args.learning_rate,
        warmup_steps=warmup,
        alpha=0.01,
    )
    head.compile(
        optimizer=keras.optimizers.AdamW(
            schedule, weight_decay=args.weight_decay, global_clipnorm=1.0
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    print(f"params: {model.count_params()}, data {time.perf_counter() - start:.0f}s", flush=True)
    accuracy = 0.0
    for epoch in range(args.epochs):
        history = head.fit(
            train_x,
            train.labels,
            batch_size=args.batch_size,
            epochs=1,
            verbose=0,
        )
        probs = model.predict(held_out.images, batch_size=250, verbose=0)
        accuracy = float(np.mean(np.argmax(probs, -1) == held_out.labels))
        print(
            f"epoch {epoch + 1}: loss {history.history['loss'][-1]:.4f}, train acc "
            f"{history.history['accuracy'][-1]:.4f}, held-out acc {accuracy:.4f}, "
            f"{time.perf_counter() - start:.0f}s",
            flush=True,
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output)
    print(
        f"held-out accuracy: {accuracy:.4f} on {len(held_out)} images; "
        f"saved {args.output} ({args.output.stat().st_size / 1024:.0f} KB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
