"""Maps combined from several probe passes: over the layers of `layers=`, and over
the augmented images of `smooth="aug"`."""

from __future__ import annotations

import numpy as np

from ..methods.fusion import fused
from ..methods.smoothing import augmented
from .blank_maps import warn_if_combined_blank, warn_if_product_blank
from .planning import check_class_ids
from .results import Maps


def maps_over_layers(explainer, prepared, targets, pad_to: int | None) -> Maps:
    """The maps of each part of `explainer` (one per layer), combined as it says."""
    parts = explainer.parts
    layer_maps = [part.explain_prepared(prepared, targets, pad_to) for part in parts]
    first = layer_maps[0]
    heatmaps = fused([each.heatmaps for each in layer_maps], explainer.combine, explainer.relu)
    warn_if_product_blank(explainer.combine, layer_maps, heatmaps, parts)
    return Maps(heatmaps, first.targets, first.scores, first.outputs)


def maps_over_augmentations(explainer, batch, maps: Maps, inputs, plan, pad_to) -> Maps:
    """`maps` of `batch`'s images averaged with those of their augmentations
    (`methods.smoothing.augmented`), each explaining the image's own classes."""
    check_class_ids(plan)

    def heatmaps_of(variant: np.ndarray, ids: np.ndarray) -> np.ndarray:
        inputs, result, _ = explainer.method_inputs(batch.with_image(variant), ids, pad_to)
        return explainer.maps_of(explainer.method, inputs, result, check=False).heatmaps

    maps.heatmaps = augmented(batch.image, maps.heatmaps, maps.targets, heatmaps_of, explainer.relu)
    warn_if_combined_blank(maps.heatmaps, inputs, explainer.method, explainer.layer, explainer.relu)
    return maps
