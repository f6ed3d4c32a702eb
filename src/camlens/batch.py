"""Explaining many images: one compiled computation, fixed-size batches, progress."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from .explainer import Explainer, Maps


def explain_batch(
    model,
    images,
    targets=None,
    layer=None,
    method: str = "gradcam",
    batch_size: int = 32,
    progress: bool | None = None,
    **options,
) -> Maps:
    """Heatmaps for many images, in batches through one compiled computation.

    Args:
        model: a built Keras 3 model.
        images: an (N, H, W, C) array, or an iterable of (H, W, C) images or
            (n, H, W, C) batches (e.g. a generator reading files), consumed once.
        targets: as in `Explainer.__call__`, applied to every image.
        layer, method, **options: as in `Explainer`.
        batch_size: images per forward pass.
        progress: show a progress bar on stderr; `None` shows one when the input
            has a known length of more than 4 batches.

    Returns:
        `Maps` for all images, heatmaps (N, K, h, w); no PIL image is built.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer. Received: batch_size={batch_size!r}"
        )
    explainer = Explainer(model, layer=layer, method=method, **options)
    total = _length(images)
    show = progress if progress is not None else total is not None and total > 4 * batch_size
    parts = []
    with _progress_bar(show, total) as bar:
        for batch in _batches(images, batch_size):
            count = len(batch)
            if parts and count < batch_size:  # same shape as before: no new trace
                batch = np.concatenate([batch, np.repeat(batch[-1:], batch_size - count, 0)])
            maps = explainer(batch, targets)
            parts.append(Maps(*(getattr(maps, f)[:count] for f in _FIELDS)))
            bar.update(count)
    if not parts:
        raise ValueError("images holds no image. Received: an empty input")
    return Maps(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))


_FIELDS = tuple(Maps.__dataclass_fields__)


def _batches(images, batch_size: int) -> Iterator[np.ndarray]:
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ValueError(
                "images must be an (N, height, width, channels) array or an iterable "
                f"of images. Received: images.shape={images.shape}"
            )
        for start in range(0, len(images), batch_size):
            yield images[start : start + batch_size]
        return
    if not isinstance(images, Iterable):
        raise TypeError(
            "images must be a numpy array or an iterable of arrays. "
            f"Received: images of type {type(images).__name__}"
        )
    pending, count = [], 0
    for item in images:
        item = np.asarray(item)
        item = item[None] if item.ndim == 3 else item
        pending.append(item)
        count += len(item)
        while count >= batch_size:
            merged = np.concatenate(pending)
            yield merged[:batch_size]
            pending, count = [merged[batch_size:]], count - batch_size
    if count:
        yield np.concatenate(pending)


def _length(images) -> int | None:
    try:
        return len(images)
    except TypeError:
        return None


class _NoBar:
    def update(self, count: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _progress_bar(show: bool, total: int | None):
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="image", desc="camlens")
