"""Folders of demo-shape images for the audit tests: PNGs, masks, a CSV of labels,
and a few files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from camlens.demo import make_dataset

CORRUPT = ("truncated.png", "text.jpg", "empty.png")


def write_demo_folder(folder: Path, count: int, seed: int = 5, corrupt: bool = True):
    """Write `count` demo images, their masks and `labels.csv` (path, label, mask);
    with `corrupt`, three unreadable files listed in the CSV too. Returns the data set."""
    data = make_dataset(count, seed=seed)
    (folder / "images" / "nested").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    lines = ["path,label,mask"]
    for n in range(count):
        name = f"images/nested/{n:03d}.png" if n % 2 else f"images/{n:03d}.png"
        Image.fromarray(data.images[n].astype(np.uint8)).save(folder / name)
        Image.fromarray(data.masks[n].astype(np.uint8) * 255).save(folder / f"masks/{n:03d}.png")
        lines.append(f"{name},{data.labels[n]},masks/{n:03d}.png")
    if corrupt:
        whole = (folder / "images" / "000.png").read_bytes()
        (folder / "images" / CORRUPT[0]).write_bytes(whole[: len(whole) // 2])
        (folder / "images" / CORRUPT[1]).write_text("this is not a JPEG")
        (folder / "images" / CORRUPT[2]).write_bytes(b"")
        lines += [f"images/{name},0," for name in CORRUPT]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return data


def demo_model_file() -> Path:
    """The demo model shipped in the package."""
    import camlens.demo

    return Path(camlens.demo.__file__).parent / "demo_model.keras"
