"""Explanations as pictures: the Explanation tier above the drawing functions.

`format_as_image` is ELI5's entry (the first target's overlay); it chooses the
drawing by the heatmap's rank: an image's overlay, a signal's band
(`signal.signal_with_heatmap`), a volume's montage (`volume.slice_montage`).
`format_targets_as_image` draws camlens's captioned panels, one per target.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping

import matplotlib.cm
import numpy as np
from PIL import Image

from .boxes import draw_box
from .checks import (
    check_alpha_limit,
    check_explanation,
    check_signal,
    check_target_names,
    check_volume,
)
from .compose import compose_panels, on_white
from .draw import DIVERGING_COLORMAP, check_pil, overlay
from .signal import signal_with_heatmap
from .volume import slice_montage


def format_as_image(
    expl,
    resampling_filter=Image.LANCZOS,
    colormap=matplotlib.cm.viridis,
    alpha_limit=0.65,
    diverging_colormap=DIVERGING_COLORMAP,
    signed=None,
):
    """Lay the first target's heatmap over the explanation's image.

    The heatmap is coloured with `colormap`, made as opaque as its values
    (capped at `alpha_limit`), resized to the image, then alpha-composited
    over it. As in ELI5, an explanation without targets gives the image back.

    The heatmap's rank chooses the drawing: a `(t,)` map of a 1-D input is
    drawn as a band under its signal (`signal_with_heatmap`), a `(d, h, w)`
    map of a volume as a montage of slices (`slice_montage`).

    Args:
        expl: an `Explanation` whose `image` is a PIL image and whose first
            target has a `heatmap`, a 2-D array `(h, w)` with values in [0, 1],
            or in [-1, 1] for a map that keeps negative evidence; or whose
            `image` is a `(T, C)` signal with a `(t,)` heatmap, or a
            `(D, H, W, C)` volume with a `(d, h, w)` heatmap.
        resampling_filter: the Pillow filter used to resize the coloured
            heatmap to the image size, e.g. `Image.Resampling.NEAREST`, `Image.LANCZOS`
            (1-D and 3-D maps are resized linearly first, so it has no effect
            on them).
        colormap: a matplotlib colormap (or its registered name), or any
            callable mapping an `(h, w)` array in [0, 1] to an `(h, w, 4)`
            RGBA array in [0, 1].
        alpha_limit: the largest opacity of the heatmap, in [0, 1]; `0`
            leaves the image unchanged, `None` applies no cap.
        diverging_colormap: the colormap of a heatmap with negative values,
            given `(heatmap + 1) / 2`, so that 0 falls on its centre.
        signed: as in `overlay`.

    A detection's target (one with a `box`) gets its box drawn, labelled with
    its class name (from `expl.target_names`) and confidence.

    Returns:
        A PIL image of mode `"RGBA"` and the size of `expl.image` (for a
        signal or a volume, of the size its drawing takes).
    """
    check_explanation(expl)
    check_alpha_limit(alpha_limit)
    rank = _input_rank(expl)
    if rank != 2:
        return _format_signal_or_volume(
            expl, rank, resampling_filter, colormap, alpha_limit, diverging_colormap, signed
        )
    check_pil(expl.image, "expl.image")
    if not expl.targets:
        return expl.image.convert("RGBA")
    picture = overlay(
        expl.image,
        expl.targets[0].heatmap,
        resampling_filter=resampling_filter,
        colormap=colormap,
        alpha_limit=alpha_limit,
        diverging_colormap=diverging_colormap,
        signed=signed,
        name="expl.targets[0].heatmap",
    )
    target = expl.targets[0]
    if getattr(target, "box", None) is None:
        return picture
    label = _target_label(target.target, getattr(expl, "target_names", None))
    if target.proba is not None:
        label += f" {float(target.proba):.2f}"
    return draw_box(picture, target.box, getattr(expl, "input_size", None), label)


def format_targets_as_image(expl, target_names=None, **format_kwargs):
    """Draw one captioned overlay per target, side by side.

    When one target's heatmap has negative values, every panel is drawn with
    the diverging colormap, so that the panels read alike.

    Args:
        expl: an `Explanation` with an image and any number of targets.
        target_names: the class names, a sequence indexed by class id or a
            mapping from class id to name; `None` captions with the ids.
        **format_kwargs: passed on to `format_as_image` (`resampling_filter`,
            `colormap`, `alpha_limit`, `diverging_colormap`).

    Returns:
        A PIL image of mode `"RGB"`: K panels (K = number of targets, one
        panel of the plain image when there is none), each the overlay of its
        target above a caption with the class name and the score (`0.973`).
    """
    check_explanation(expl)
    check_target_names(target_names)
    pictures = target_pictures(expl, format_kwargs)
    captions = [caption_lines(t, target_names) for t in expl.targets]
    if not captions:
        return pictures[0]
    return compose_panels(pictures, captions)


def target_pictures(expl, format_kwargs):
    """One RGB overlay per target (the plain image when there is none)."""
    views = [dataclasses.replace(expl, targets=[t]) for t in expl.targets] or [expl]
    # One signed map draws every panel with the diverging colormap, alike.
    signed = any(_has_negative(t.heatmap) for t in expl.targets)
    return [on_white(format_as_image(view, signed=signed, **format_kwargs)) for view in views]


def caption_lines(target_expl, target_names):
    """The caption of a target: its name, then its score (`0.973`)."""
    lines = [_target_label(target_expl.target, target_names)]
    if target_expl.score is not None:
        try:
            lines.append(f"{float(target_expl.score):.3f}")
        except (TypeError, ValueError):
            lines.append(str(target_expl.score))
    return lines


def _has_negative(heatmap) -> bool:
    return (
        isinstance(heatmap, np.ndarray) and heatmap.dtype.kind in "if" and bool((heatmap < 0).any())
    )


def _target_label(target, target_names):
    """The display name of a target: its class name, else its id."""
    is_id = isinstance(target, numbers.Integral) and not isinstance(target, bool)
    if not is_id:
        # A callable target (a custom score) is shown by its name.
        return str(getattr(target, "__name__", target))
    if target_names is None:
        return str(int(target))
    if isinstance(target_names, Mapping):
        for key in (target, int(target)):
            if key in target_names:
                return str(target_names[key])
        raise ValueError(
            f"target_names has no name for class {int(target)}. "
            f"Received: target_names with keys {list(target_names)[:10]}"
        )
    if 0 <= target < len(target_names):
        return str(target_names[int(target)])
    raise ValueError(
        f"target_names has no name for class {int(target)}. "
        f"Received: target_names of length {len(target_names)}"
    )


def _input_rank(expl) -> int:
    """2 for an image, 1 for a signal, 3 for a volume: by the first heatmap's rank.

    An explanation without a heatmap goes by its image: a `(T, C)` array is a
    signal, a `(D, H, W, C)` array a volume.
    """
    heatmap = expl.targets[0].heatmap if expl.targets else None
    if isinstance(heatmap, np.ndarray) and heatmap.ndim in (1, 3):
        return heatmap.ndim
    if not expl.targets and isinstance(expl.image, np.ndarray) and expl.image.ndim in (2, 4):
        return expl.image.ndim - 1
    return 2


def _format_signal_or_volume(
    expl, rank, resampling_filter, colormap, alpha_limit, diverging_colormap, signed
):
    """`format_as_image` for a 1-D (rank 1) or 3-D (rank 3) explanation."""
    heatmap = expl.targets[0].heatmap if expl.targets else None
    name = "expl.targets[0].heatmap"
    if rank == 1:
        signal = check_signal(expl.image, "expl.image")
        return signal_with_heatmap(
            signal,
            heatmap,
            colormap=colormap,
            alpha_limit=alpha_limit,
            diverging_colormap=diverging_colormap,
            signed=signed,
            name=name,
        )
    volume = check_volume(expl.image, "expl.image")
    return slice_montage(
        volume,
        heatmap,
        resampling_filter=resampling_filter,
        colormap=colormap,
        alpha_limit=alpha_limit,
        diverging_colormap=diverging_colormap,
        signed=signed,
        name=name,
    )
