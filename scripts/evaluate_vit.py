"""Scores LeGrad beside the class activation map methods on the trained ViT.

Loads the model `train_vit_eval.py` saved, generates the demo shapes (their
classes and boxes known: the pointing games score against the boxes, as
`camlens evaluate` does on the demo CNN) and prints `camlens.metrics.evaluate`'s
table, with the explained class the true one.

Usage:
    KERAS_BACKEND=jax python scripts/evaluate_vit.py docs/models/vit_shapes.keras \\
        --count 50 --methods gradcam,layercam,legrad
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import keras  # noqa: E402
import keras_hub  # noqa: E402, F401  (registers the backbone's classes for loading)

from camlens.demo.shapes import make_dataset  # noqa: E402
from camlens.metrics import boxes_to_masks, evaluate, format_table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seed", type=int, default=4321)
    parser.add_argument("--methods", default="gradcam,layercam,legrad")
    parser.add_argument("--layer", default=None, help="the CAM methods' layer (automatic)")
    args = parser.parse_args()

    model = keras.saving.load_model(args.model, compile=False)
    data = make_dataset(args.count, seed=args.seed)
    masks = boxes_to_masks(data.boxes, data.masks.shape[1:])
    predicted = np.argmax(np.asarray(model.predict(data.images, verbose=0)), -1)
    print(f"accuracy on these {args.count} images: {np.mean(predicted == data.labels):.3f}")
    start = time.perf_counter()
    result = evaluate(
        model,
        data.images,
        methods=args.methods.split(","),
        targets=data.labels,
        masks=masks,
        layer=args.layer,
        seed=args.seed,
    )
    print(format_table(result))
    print(f"{time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
