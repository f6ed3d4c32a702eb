"""Explaining many images: one compiled computation, fixed-size batches, progress."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import keras
import numpy as np

from ..checks import check_positive_int
from ..files.image_tables import TableImages, dataset_table, is_hf_dataset
from ..files.images import image_to_doc
from ..model.inputs import AXES, ModelInputs, as_model_inputs, input_rank
from .explainer import Explainer
from .progress import progress_bar
from .results import Maps


def explain_batch(
    model,
    images,
    targets=None,
    layer=None,
    method: str = "gradcam",
    batch_size: int = 32,
    progress: bool | None = None,
    relu: bool = True,
    counterfactual: bool = False,
    score: str | None = None,
    mask_batch_size: int = 64,
    token_grid: tuple[int, int] | None = None,
    prefix_tokens: int | None = None,
    output_index: int = 0,
    preprocess=None,
    max_channels: int | None = None,
    smooth: str | None = None,
    layers=None,
    combine: str = "mean",
    image_input=None,
    constant_inputs=None,
    detector=None,
) -> Maps:
    """Heatmaps for many images, in batches through one compiled computation.

    Args:
        model: a built Keras 3 model.
        images: an (N, H, W, C) array, or an iterable of (H, W, C) images or
            (n, H, W, C) batches (e.g. a generator reading files), consumed once;
            or a Hugging Face `datasets.Dataset` with one image column (decoded
            and resized to the model's input as `camlens explain` does a file);
            for a model of 1-D signals or volumes, (N, T, C) or (N, D, H, W, C)
            arrays, or iterables of such inputs or batches.
        targets: as in `Explainer.__call__`, applied to every image; an int
            array (N,) or (N, K) gives class ids per image, one row per image
            of `images` (a stream included).
        layer: as in `Explainer`, and so are `method`, `relu`, `counterfactual`,
            `score`, `mask_batch_size`, `token_grid`, `prefix_tokens`,
            `output_index`, `preprocess`, `max_channels`, `smooth`, `layers`,
            `combine`, `image_input`, `constant_inputs` and `detector` (with
            several inputs, `images` is a list or dict of their (N, ...) arrays;
            an image–text backbone takes the images alone).
        batch_size: images per forward pass.
        progress: show a progress bar on stderr; `None` shows one when the input
            has a known length of more than 4 batches.

    Returns:
        `Maps` for all images, heatmaps (N, K, h, w); no PIL image is built.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    explainer = Explainer(
        model,
        layer=layer,
        method=method,
        relu=relu,
        counterfactual=counterfactual,
        score=score,
        mask_batch_size=mask_batch_size,
        token_grid=token_grid,
        prefix_tokens=prefix_tokens,
        output_index=output_index,
        preprocess=preprocess,
        max_channels=max_channels,
        smooth=smooth,
        layers=layers,
        combine=combine,
        image_input=image_input,
        constant_inputs=constant_inputs,
        detector=detector,
    )
    if is_hf_dataset(images):  # decoded and resized as `camlens explain` does a file
        images = TableImages(
            dataset_table(images), lambda image: image_to_doc(image, explainer.model)[0]
        )
    if explainer.image_slots is not None and explainer.towers is None:  # arrays, checked at once
        images = explainer.prepare(images, name="images")
    total = len(images.image) if isinstance(images, ModelInputs) else _length(images)
    per_image = isinstance(targets, np.ndarray) and targets.ndim > 0
    if per_image and total is not None and len(targets) != total:
        raise ValueError(
            f"targets as an array must have one row per image: {total} rows for "
            f"{total} images. Received: targets.shape={targets.shape}"
        )
    show = progress if progress is not None else total is not None and total > 4 * batch_size
    parts: list[Maps] = []
    done = 0
    rank = input_rank(explainer.model, explainer.preprocess, explainer.image_slots)
    with progress_bar(show, total) as bar:
        for batch in _batches(images, batch_size, rank):
            count = len(as_model_inputs(batch).image)
            batch_targets = targets
            if per_image:
                batch_targets = targets[done : done + count]
                if len(batch_targets) != count:
                    raise ValueError(
                        "targets as an array must have one row per image; the images "
                        f"outnumber its {len(targets)} rows. Received: "
                        f"targets.shape={targets.shape}"
                    )
            if not isinstance(batch, ModelInputs):
                batch = explainer.prepare(batch, name="images")
            # A short last batch runs at the compiled batch size; the methods
            # see its real images only.
            maps = explainer.explain_prepared(
                batch, batch_targets, pad_to=batch_size if parts else None
            )
            parts.append(maps)
            done += count
            bar.update(count)
    if not parts:
        raise ValueError("images holds no image. Received: an empty input")
    if per_image and done != len(targets):
        raise ValueError(
            f"targets as an array must have one row per image: {done} images, "
            f"{len(targets)} rows. Received: targets.shape={targets.shape}"
        )
    width = max(p.heatmaps.shape[1] for p in parts)
    parts = [_widened(p, width) for p in parts]
    joined = {field: _concatenate([getattr(p, field) for p in parts]) for field in _ARRAYS}
    joined["input_size"] = parts[0].input_size
    if parts[0].layers is not None:  # a detector's levels: those any batch read
        joined["layers"] = list(dict.fromkeys(name for p in parts for name in p.layers or ()))
    return Maps(**joined)


_ALIKE = ("layers", "input_size")
"""The fields of `Maps` that are not per-image arrays (a detector's levels, its input
size): joined by `explain_batch` itself."""

_ARRAYS = tuple(field for field in Maps.__dataclass_fields__ if field not in _ALIKE)


def _widened(maps: Maps, width: int) -> Maps:
    """`maps` with `width` targets: a detector's batches find different numbers of
    detections, and the slots added are padded as an image's missing ones are
    (heatmap 0, target -1, score, box and confidence NaN)."""
    missing = width - maps.heatmaps.shape[1]
    if missing == 0:
        return maps

    def pad(array, fill):
        if array is None:
            return None
        shape = (array.shape[0], missing, *array.shape[2:])
        return np.concatenate([array, np.full(shape, fill, array.dtype)], axis=1)

    return replace(
        maps,
        heatmaps=pad(maps.heatmaps, 0.0),
        targets=pad(maps.targets, -1),
        scores=pad(maps.scores, np.nan),
        boxes=pad(maps.boxes, np.nan),
        confidences=pad(maps.confidences, np.nan),
    )


def _concatenate(parts: list):
    """Arrays, or the same structure of arrays (a multi-output model's), joined per
    leaf; `None` (a field only a detector's maps have) stays `None`."""
    if parts[0] is None:
        return None
    return keras.tree.map_structure(lambda *arrays: np.concatenate(arrays), *parts)


def _batches(images, batch_size: int, rank: int | None) -> Iterator[np.ndarray | ModelInputs]:
    """Batches of `batch_size` from an array or a stream of inputs of rank `rank`
    (with the batch axis; `None`: unknown, any of 3 to 5 for arrays, 4 for a stream's
    single images), or from the prepared inputs of a multi-input model."""
    if isinstance(images, ModelInputs):
        for start in range(0, len(images.image), batch_size):
            yield images.rows(start, start + batch_size)
        return
    if isinstance(images, np.ndarray):
        if images.ndim not in ((rank,) if rank is not None else tuple(AXES)):
            raise ValueError(
                f"images must be an {AXES.get(rank or 4, AXES[4]).replace('batch', 'N')} "
                f"array or an iterable of inputs. Received: images.shape={images.shape}"
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
        item = item[None] if item.ndim == (rank or 4) - 1 else item
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
