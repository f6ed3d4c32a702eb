"""Where camlens keeps files it derives once (converted weights), and how it writes them."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

ENV_VAR = "CAMLENS_CACHE_DIR"


def cache_dir() -> Path:
    """The cache folder, not created here.

    `$CAMLENS_CACHE_DIR` if set, else `$XDG_CACHE_HOME/camlens`, else `~/.cache/camlens`.
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "camlens"


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = ""):
    """Yield a temporary path beside `path`; move it onto `path` if the block succeeds.

    Readers see either no file or a complete one, also with several writers at
    once. The temporary file is removed when the block fails.

    Args:
        path: the final file.
        suffix: the ending the temporary name needs (e.g. `".weights.h5"`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp{suffix}"
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
