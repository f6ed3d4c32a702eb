"""The demo data set as files: what `camlens demo --folder DIR` writes for `camlens audit`."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from .model import MODEL_FILE
from .shapes import ShapesDataset, make_dataset


def write_folder(folder, count: int, seed: int = 0) -> ShapesDataset:
    """Write `count` generated images as PNGs with their object masks, a
    `labels.csv` (columns path, label, mask) and the demo model, into `folder`.

    Layout: `images/NNN.png` (odd indices under `images/nested/`, to show that
    folders are searched recursively), `masks/NNN.png` (white on the object),
    `labels.csv`, `demo_model.keras`.

    Returns:
        The `ShapesDataset` written.
    """
    folder = Path(folder)
    data = make_dataset(count, seed=seed)
    (folder / "images" / "nested").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    lines = ["path,label,mask"]
    for n in range(count):
        name = f"images/nested/{n:03d}.png" if n % 2 else f"images/{n:03d}.png"
        Image.fromarray(data.images[n].astype(np.uint8)).save(folder / name)
        Image.fromarray(data.masks[n].astype(np.uint8) * 255).save(folder / f"masks/{n:03d}.png")
        lines.append(f"{name},{data.labels[n]},masks/{n:03d}.png")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    with resources.as_file(resources.files("camlens.demo").joinpath(MODEL_FILE)) as model:
        shutil.copyfile(model, folder / MODEL_FILE)
    return data
