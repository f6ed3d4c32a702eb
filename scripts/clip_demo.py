"""Trains a small keras-hub CLIP on coloured shapes and draws its maps per prompt.

The README's zero-shot picture: a `keras_hub.models.CLIPBackbone` built from a
config (nothing downloads), with a real `CLIPPreprocessor` whose BPE vocabulary
is written here (every letter, and the few words of the prompts), trained so that
the image–text logit of "a red shape" says whether a red shape is in the image.

The data: 64x64 scenes on a grey, noisy background, each with one or two of the
demo's shapes (`camlens.demo.make_dataset`'s masks) painted in distinct colours
of `PALETTE`. The loss is SigLIP's: a sigmoid on every image–prompt logit, plus
one learned bias, against whether that colour is present (CLIP's own softmax over
the prompts would ask for exactly one colour per image).

The script then explains held-out scenes with `camlens.Explainer(clip)` and one
`Prompt` per colour, the way a user would, draws the picture (each scene, then
the map of each colour it holds), and prints the pointing figure: how often the
map of a colour that is present peaks on the shape of that colour.

Usage:
    PYTHONPATH=src python scripts/clip_demo.py docs/clip-prompts.jpg [--epochs 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import keras  # noqa: E402
import keras_hub  # noqa: E402
from PIL import Image  # noqa: E402

from camlens import BlankMapWarning, Explainer  # noqa: E402
from camlens.demo.picture import SCALE  # noqa: E402
from camlens.demo.shapes import IMAGE_SIZE, make_dataset  # noqa: E402
from camlens.formatters import compose_panels, image_and_overlay  # noqa: E402
from camlens.targets import Prompt  # noqa: E402

PALETTE = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "yellow": (235, 200, 30),
}
COLOURS = tuple(PALETTE)
PROMPTS = tuple(f"a {colour} shape" for colour in COLOURS)
WORDS = ("a", "shape", *COLOURS)
SEQUENCE_LENGTH = 8
SEED = 8  # the default of --seed: initial weights, shuffling
TRAIN_SEED, HELD_OUT_SEED = 100, 200
PICTURE_SCENES = 4
METHODS = ("gradcam", "legrad")


def preprocessor() -> keras_hub.models.CLIPPreprocessor:
    """A CLIP preprocessor whose BPE knows every letter and merges the prompts' words whole."""
    vocabulary = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocabulary[letter] = len(vocabulary)
        vocabulary[f"{letter}</w>"] = len(vocabulary)
    merges: list[str] = []
    for word in WORDS:
        pieces = [*word[:-1], f"{word[-1]}</w>"]
        joined = pieces[0]
        for piece in pieces[1:]:
            merges.append(f"{joined} {piece}")
            joined += piece
            vocabulary.setdefault(joined, len(vocabulary))
    tokenizer = keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges)
    return keras_hub.models.CLIPPreprocessor(tokenizer=tokenizer, sequence_length=SEQUENCE_LENGTH)


def clip_model(vocabulary_size: int) -> keras_hub.models.CLIPBackbone:
    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=8,
        hidden_dim=64,
        num_layers=3,
        num_heads=4,
        intermediate_dim=128,
        image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
    )
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=vocabulary_size,
        embedding_dim=32,
        hidden_dim=32,
        num_layers=1,
        num_heads=2,
        intermediate_dim=64,
        max_sequence_length=SEQUENCE_LENGTH,
    )
    return keras_hub.models.CLIPBackbone(vision, text, projection_dim=32)


def shape_masks(n: int, seed: int) -> np.ndarray:
    """`n` masks of the demo's shapes (random class, size and place)."""
    return make_dataset(n, seed=seed).masks


def scenes(n: int, seed: int, pool: np.ndarray):
    """`n` scenes of shapes from `pool`: images in [0, 1], which colours each
    holds, and each colour's mask."""
    rng = np.random.default_rng(seed)
    images = np.clip(rng.normal(0.5, 0.05, (n, IMAGE_SIZE, IMAGE_SIZE, 3)), 0, 1)
    present = np.zeros((n, len(COLOURS)), "float32")
    masks = np.zeros((n, len(COLOURS), IMAGE_SIZE, IMAGE_SIZE), bool)
    for i in range(n):
        count = 1 if rng.random() < 0.3 else 2
        for colour in rng.choice(len(COLOURS), size=count, replace=False):
            shape = pool[rng.integers(len(pool))]
            while (shape & masks[i].any(axis=0)).any():  # the shapes of a scene do not overlap
                shape = pool[rng.integers(len(pool))]
            images[i][shape] = np.array(PALETTE[COLOURS[colour]]) / 255.0
            present[i, colour] = 1.0
            masks[i, colour] = shape
    return images.astype("float32"), present, masks


class PromptLogits(keras.Model):
    """The backbone's logit of every prompt for each image, plus one learned bias."""

    def __init__(self, clip, token_ids, **kwargs):
        super().__init__(**kwargs)
        self.clip = clip
        self.token_ids = np.asarray(token_ids, "int32")
        self.bias = self.add_weight(shape=(), initializer=keras.initializers.Constant(-5.0))

    def call(self, images):
        token_ids = keras.ops.convert_to_tensor(self.token_ids)
        logits = self.clip({"images": images, "token_ids": token_ids})["vision_logits"]
        return logits + self.bias


def train(args, token_ids):
    keras.utils.set_random_seed(args.seed)
    clip = clip_model(preprocessor().tokenizer.vocabulary_size())
    trainer = PromptLogits(clip, token_ids)
    trainer.compile(
        optimizer=keras.optimizers.AdamW(args.learning_rate, weight_decay=1e-4),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
    )
    pool = shape_masks(args.shapes, TRAIN_SEED)
    held_out, held_present, _ = scenes(500, HELD_OUT_SEED, shape_masks(1000, HELD_OUT_SEED))
    for epoch in range(args.epochs):
        images, present, _ = scenes(args.images, TRAIN_SEED + epoch, pool)
        start = time.perf_counter()
        history = trainer.fit(images, present, batch_size=64, epochs=1, verbose=0)
        loss, accuracy = trainer.evaluate(held_out, held_present, verbose=0)
        print(
            f"epoch {epoch + 1}: train loss {history.history['loss'][0]:.3f}, "
            f"held-out loss {loss:.3f}, per-colour accuracy {accuracy:.3f} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    return clip


def pointing(maps, masks, present) -> tuple[np.ndarray, np.ndarray]:
    """Per colour: how many maps of that colour, where present, peak on its
    shape, and out of how many."""
    hits = np.zeros(len(COLOURS), int)
    totals = np.zeros(len(COLOURS), int)
    step = IMAGE_SIZE // maps.shape[-1]
    for n, k in zip(*np.nonzero(present)):
        row, column = np.unravel_index(np.argmax(maps[n, k]), maps[n, k].shape)
        cell = masks[n, k, row * step : (row + 1) * step, column * step : (column + 1) * step]
        hits[k] += int(cell.any())
        totals[k] += 1
    return hits, totals


def picture(explainer, preprocess, images, present) -> Image.Image:
    panels, captions = [], []
    for n in range(len(images)):
        colours = np.flatnonzero(present[n])
        targets = [Prompt(PROMPTS[k], preprocess) for k in colours]
        maps = explainer(images[n : n + 1], targets=targets)
        image = Image.fromarray((images[n] * 255).astype("uint8"))
        big = image.resize((image.width * SCALE, image.height * SCALE), Image.NEAREST)
        for j, k in enumerate(colours):
            panels.append(image_and_overlay(big, maps.heatmaps[0, j]))
            captions.append([f'"{PROMPTS[k]}"', f"logit {maps.scores[0, j]:.1f}"])
    return compose_panels(panels, captions, columns=2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the picture (JPEG or PNG)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--images", type=int, default=4000, help="fresh scenes per epoch")
    parser.add_argument("--shapes", type=int, default=6000, help="shapes to compose scenes of")
    parser.add_argument("--seed", type=int, default=SEED, help="initial weights, shuffling")
    parser.add_argument("--model", type=Path, help="load the model from here, or train and save it")
    parser.add_argument("--method", default="legrad", choices=METHODS, help="for the picture")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    args = parser.parse_args()
    preprocess = preprocessor()
    token_ids = np.stack(
        [np.asarray(preprocess({"prompts": [p], "images": None})["token_ids"])[0] for p in PROMPTS]
    )
    if args.model is not None and args.model.exists():
        clip = keras.saving.load_model(args.model, compile=False)
        print(f"loaded {args.model}")
    else:
        start = time.perf_counter()
        clip = train(args, token_ids)
        print(f"trained in {time.perf_counter() - start:.0f} s")
        if args.model is not None:
            clip.save(args.model)

    images, present, masks = scenes(200, HELD_OUT_SEED + 1, shape_masks(400, HELD_OUT_SEED + 1))
    prompts = [Prompt(p, preprocess) for p in PROMPTS]
    for method in METHODS:
        explainer = Explainer(clip, method=method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BlankMapWarning)  # absent colours: no evidence
            maps = explainer(images, targets=prompts)
        hits, totals = pointing(maps.heatmaps, masks, present)
        layer = getattr(explainer.layer, "name", explainer.layer)
        print(
            f"{method} at {layer}, grid {maps.heatmaps.shape[2:]}: the map of a present colour "
            f"peaks on its shape in {hits.sum()} of {totals.sum()} "
            f"({hits.sum() / totals.sum():.0%}) held-out cases; "
            + ", ".join(f"{c} {h}/{t}" for c, h, t in zip(COLOURS, hits, totals))
        )
    explainer = Explainer(clip, method=args.method)
    chosen = np.flatnonzero(present.sum(axis=1) == 2)[:PICTURE_SCENES]
    drawn = picture(explainer, preprocess, images[chosen], present[chosen])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    drawn.convert("RGB").save(args.output, quality=85, optimize=True)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
