"""Files written whole or not at all: a temporary file beside the target, renamed."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from PIL import Image

from .images import FileProblem


def write_atomically(path: Path, data: bytes | bytearray, durable: bool = False) -> None:
    """Write a temp file beside `path`, then rename it: never a half-written file.

    A killed process leaves the old file or the new one. With `durable`, the
    data and the rename are also flushed to the disk (fsync of the file and its
    folder), so that a power cut leaves no empty file behind the new name.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    if durable and hasattr(os, "O_DIRECTORY"):
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def check_png_path(path: Path, name: str = "--out") -> Path:
    """`path` if a PNG can be written there (checked before any work), its folder
    created if missing; `name` is its role."""
    path = Path(path)
    if path.is_dir():
        raise FileProblem(f"{name} is a directory, expected a file path. Received: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_png(picture: Image.Image, path: Path, name: str = "--out") -> None:
    """Write `picture` as a PNG with `write_atomically`; `name` is the path's role in errors."""
    path = check_png_path(path, name)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    write_atomically(path, buffer.getvalue())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
