"""Folders of demo-shape images for the audit tests: `camlens.demo.write_folder`
plus a few files that cannot be read, listed in the CSV too."""

from __future__ import annotations

from pathlib import Path

from camlens.demo import write_folder

CORRUPT = ("truncated.png", "text.jpg", "empty.png")


def write_demo_folder(folder: Path, count: int, seed: int = 5, corrupt: bool = True):
    """The demo folder of `count` images; with `corrupt`, three unreadable files
    appended to `labels.csv`. Returns the data set."""
    data = write_folder(folder, count, seed=seed)
    if corrupt:
        whole = (folder / "images" / "000.png").read_bytes()
        (folder / "images" / CORRUPT[0]).write_bytes(whole[: len(whole) // 2])
        (folder / "images" / CORRUPT[1]).write_text("this is not a JPEG")
        (folder / "images" / CORRUPT[2]).write_bytes(b"")
        with open(folder / "labels.csv", "a") as table:
            table.writelines(f"images/{name},0,\n" for name in CORRUPT)
    return data


def demo_model_file() -> Path:
    """The demo model shipped in the package."""
    import camlens.demo

    return Path(camlens.demo.__file__).parent / "demo_model.keras"
