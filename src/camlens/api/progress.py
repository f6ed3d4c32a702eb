"""The progress bar of long runs (`explain_batch`, the audit): images done, rate, ETA."""

from __future__ import annotations


def progress_bar(show: bool, total: int | None, initial: int = 0, label: str = "camlens"):
    """A tqdm bar on stderr counting images; a silent one when `show` is False.

    Args:
        total: the number of images, `None` when unknown.
        initial: images done before this run (a resumed audit).
        label: the bar's description.
    """
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, unit="image", desc=label, disable=not show, dynamic_ncols=True
    )
