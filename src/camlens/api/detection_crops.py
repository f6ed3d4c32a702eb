"""A RetinaNet detection's gradient pass on its anchor's window of the level alone.

keras-hub's classification head is a stack of 3x3 convolutions of stride 1 with
'same' padding and a pointwise activation between them. The logit of the anchor
at (i, j) of a level therefore reads only the level's values within r rows and
r columns of (i, j), r the sum of the convolutions' half widths (5 for the
default head); its gradient is exactly zero outside that window.

So the head runs on a crop of the level around each detection (`maps_on_crops`),
of the window's size, (2r + 1) x (2r + 1), shifted inside the level where the
anchor is near its border: a crop edge on the level's border pads with zeros
as the whole level does there, and an edge inside the level is r positions or
more from the anchor, which the wrong padding there does not reach in r
convolutions. The crops of every detection made at the level are one batch.
Their gradients are put back at their places in a level of zeros, beside the
level's own values: the arrays the whole head's pass gives, from which the
method computes its map as always.

Only a head of that structure takes this route (no group normalisation, which
reads the whole level), only where the window is smaller than the level, and
only for methods reading the activations and the gradients of the target
(others keep the whole level's pass).
"""

from __future__ import annotations

import keras
import numpy as np

from ..model.inputs import as_model_inputs
from ..model.token_grid import Layout
from ..probe import ProbeResult, probe_for
from ..probe.plan import DETECTION, Slot, TargetPlan
from .passes import method_inputs
from .results import Maps


def radius(cut: keras.Model) -> tuple | None:
    """`(rows, columns)` the class logits of the head `cut` (a level's feature map to
    its class logits) read around their position, or `None` unless `cut` is
    keras-hub's `PredictionHead` (its 'same' convolutions of stride 1, channels last,
    no normalisation, a built-in activation) and a reshape to rows."""
    kinds = [type(layer) for layer in cut.layers]
    if len(kinds) != 3 or kinds[0] is not keras.layers.InputLayer:
        return None
    head, rows = cut.layers[1], cut.layers[2]
    if not isinstance(rows, keras.layers.Reshape) or not _is_prediction_head(head):
        return None
    if head.use_group_norm or head.group_norm_layers:
        return None
    if not isinstance(keras.activations.serialize(head.activation), str):
        return None  # an activation of one's own: not known to be pointwise
    reach = np.zeros(2, np.int64)
    for conv in [*head.conv_layers, head.prediction_layer]:
        kernel = np.asarray(conv.kernel_size)
        if not (
            type(conv) is keras.layers.Conv2D
            and conv.padding == "same"
            and conv.data_format == "channels_last"
            and tuple(conv.strides) == (1, 1)
            and tuple(conv.dilation_rate) == (1, 1)
            and (kernel % 2 == 1).all()
        ):
            return None
        reach += kernel // 2
    return int(reach[0]), int(reach[1])


def _is_prediction_head(layer) -> bool:
    cls = type(layer)
    return cls.__name__ == "PredictionHead" and cls.__module__.startswith("keras_hub.")


def maps_on_crops(part, cut, level, values: np.ndarray, local: TargetPlan, rows) -> Maps | None:
    """The maps of `local` at `level` from crops of its `values` (N, h, w, C), or
    `None` where this route does not apply (see the module's docstring).

    Args:
        part: the explainer at the level's identity layer on its whole head.
        cut: the detector's `HeadCut`.
        local: the plan on the whole head (rows of the level).
        rows: per slot, (N,) the detections' rows among all the detector's
            predictions: those of other levels get no crop (their maps are not kept).
    """
    method = part.method
    if not method.gradients or part.logit_gradients:
        return None
    reach = cut.reach(level.name)
    if reach is None:
        return None
    count, height, width, channels = values.shape
    size = (min(height, 2 * reach[0] + 1), min(width, 2 * reach[1] + 1))
    if size[0] * size[1] >= height * width:
        return None
    start, stop = level.rows
    anchors = (stop - start) // (height * width)
    pairs = [(n, k) for k, at in enumerate(rows) for n in range(count) if start <= at[n] < stop]
    gradients = np.zeros((count, len(rows), height, width, channels), np.float32)
    scores = np.zeros((count, len(rows)), np.float32)
    if pairs:
        where, plan = _crops(local, pairs, (height, width), size, anchors)
        crops = np.stack([values[n, y : y + size[0], x : x + size[1]] for n, y, x in where])
        head, identity = cut.crop_head(level.name, size)
        bucket = 1 << (len(pairs) - 1).bit_length()  # few compiled batch sizes
        found = probe_for(head, identity).run(crops, plan, part.score, pad_to=bucket)
        for m, ((n, k), (_, top, left)) in enumerate(zip(pairs, where)):
            gradients[n, k, top : top + size[0], left : left + size[1]] = found.gradients[m, 0]
            scores[n, k] = found.scores[m, 0]
    result = ProbeResult(values, gradients, None, local.ids, scores)
    whole, layer = cut.head(level.name)
    inputs = method_inputs(
        probe_for(whole, layer),
        as_model_inputs(values),
        local,
        result,
        Layout(),
        score=part.score,
        counterfactual=part.counterfactual,
        mask_batch_size=part.mask_batch_size,
        max_channels=part.max_channels,
        compared=False,
        pad_to=None,
    )
    return part.maps_of(method, inputs, result, check=False)


def _crops(local: TargetPlan, pairs: list, shape: tuple, size: tuple, anchors: int):
    """`(where, plan)`: per pair (n, k), the crop's `(n, top, left)`, and the plan on
    the crops (one `DETECTION` slot: the anchor's row within its crop)."""
    where, crop_rows, classes = [], [], []
    for n, k in pairs:
        position, anchor = divmod(int(local.masks[k][n]), anchors)
        i, j = divmod(position, shape[1])
        top = min(max(i - size[0] // 2, 0), shape[0] - size[0])
        left = min(max(j - size[1] // 2, 0), shape[1] - size[1])
        where.append((n, top, left))
        crop_rows.append(((i - top) * size[1] + (j - left)) * anchors + anchor)
        classes.append(local.ids[n, k])
    plan = TargetPlan(
        slots=(Slot(DETECTION, 0),),
        ids=np.asarray(classes, np.int32)[:, None],
        masks=(np.asarray(crop_rows, np.int32),),
        callables=(None,),
    )
    return where, plan
