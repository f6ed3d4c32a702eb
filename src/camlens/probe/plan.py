"""The probe's view of the targets: data-free slots, and the data of one call.

`camlens.api.planning` turns what the user passed as `targets` into a
`TargetPlan`: one data-free `Slot` per target, which is what the compiled probe
is keyed by (new class ids, masks or lambdas cost no new trace), and the data
of this call (class ids per image, masks, callables).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import keras
import numpy as np

TOP = "top"
"""A slot explaining each image's top prediction."""

ID = "id"
"""A slot explaining a class id given per image at call time."""

REGION = "region"
"""A slot summing (or averaging) one channel of a dense output over a region."""

CALLABLE = "callable"
"""A slot whose score a callable computes; its gradient enters as a cotangent."""

COSINE = "cosine"
"""A slot scoring the cosine similarity of an embedding output with a reference
vector given per image at call time (`Similarity` targets)."""

SIMILAR = "similar"
"""A slot for the class ranked `rank` (0 = highest) by the model's output, leaving
out the class explained by slot `of`: the classes most similar to a target, by
the model's own prediction (Finer-CAM's comparison classes)."""


DETECTION = "detection"
"""A slot explaining one prediction of a detector: the class score of a row
(an anchor, a query) given per image at call time, with its class id."""


CLASS_SLOTS = (TOP, ID, SIMILAR)
"""The slot kinds whose score before the model's last activation is a class logit."""


@dataclass(frozen=True)
class Slot:
    """The data-free description of one target, what compiled functions are keyed by.

    Attributes:
        kind: `TOP`, `ID`, `REGION`, `CALLABLE`, `SIMILAR`, `COSINE` or `DETECTION`.
        output: index into the flattened outputs, `None` for the model's only
            output (or, for a callable, all of its outputs); for `DETECTION`,
            the detector's class-score output (N, R, classes).
        masked: for `REGION`, whether a mask is given (else the predicted pixels).
        reduce: for `REGION`, `"sum"` or `"mean"` over the region.
        of, rank: for `SIMILAR`, the slot compared with and the class's rank.
        pool, first: for `COSINE` on a token output (batch, tokens, dim): how
            its embedding is read, `"class"` (token 0) or `"mean"` (of the
            tokens from `first` on); `None` for an output (batch, dim).
    """

    kind: str
    output: int | None = None
    masked: bool = False
    of: int | None = None
    rank: int = 0
    pool: str | None = None
    first: int = 0
    reduce: str = "sum"


@dataclass
class TargetPlan:
    """The targets of one call on N images, K slots.

    Attributes:
        slots: (K,) `Slot`s.
        ids: (N, K) int32 class ids, read by `ID`, `REGION` and `DETECTION` slots.
        masks: per slot, (N, *spatial) float32 for masked `REGION` slots, (N, dim)
            float32 reference vectors for `COSINE` slots, (N,) int32 rows for
            `DETECTION` slots, else `None`.
        callables: per slot, the callable of a `CALLABLE` slot, else `None`.
    """

    slots: tuple
    ids: np.ndarray
    masks: tuple
    callables: tuple

    def rows(self, index) -> TargetPlan:
        """The plan for the images `index` (a slice or an index array).

        A callable target that holds data per image (a `Box`'s IoU and
        confidence) has a `for_rows(index)` giving its own for those images.
        """
        return replace(
            self,
            ids=self.ids[index],
            masks=tuple(None if m is None else m[index] for m in self.masks),
            callables=tuple(
                f.for_rows(index) if hasattr(f, "for_rows") else f for f in self.callables
            ),
        )

    def extended(self, slots: tuple) -> TargetPlan:
        """The plan with `slots` (that read no ids, masks or callables) appended."""
        count, extra = len(self.ids), len(slots)
        return replace(
            self,
            slots=self.slots + tuple(slots),
            ids=np.concatenate([self.ids, np.zeros((count, extra), np.int32)], axis=1),
            masks=self.masks + (None,) * extra,
            callables=self.callables + (None,) * extra,
        )

    def padded(self, count: int) -> TargetPlan:
        """The plan for `count` >= N images, the last image's row repeated."""
        return self.rows(np.minimum(np.arange(count), len(self.ids) - 1))

    def for_variants(self, n: int, explained: np.ndarray, outputs, count: int) -> TargetPlan:
        """The plan for `count` variants of image n (Score-CAM's masked images).

        Each variant is scored for what image n explained: the top prediction
        becomes its class id, and a region of predicted pixels the region
        predicted on image n itself.

        Args:
            explained: (K,) the class ids explained for image n.
            outputs: the model's outputs for the batch, as numpy.
        """
        slots, masks = list(self.slots), list(self.masks)
        flat = keras.tree.flatten(outputs)
        for k, slot in enumerate(self.slots):
            if slot.kind == TOP:
                slots[k] = replace(slot, kind=ID)
            elif slot.kind == REGION and not slot.masked:
                output = flat[0 if slot.output is None else slot.output][n]
                predicted = np.argmax(output, axis=-1) == explained[k]
                masks[k] = np.broadcast_to(predicted, (len(self.ids),) + predicted.shape)
                slots[k] = replace(slot, masked=True)
        ids = np.where(explained >= 0, explained, 0).astype(np.int32)
        plan = replace(
            self,
            slots=tuple(slots),
            ids=np.broadcast_to(ids, self.ids.shape).copy(),
            masks=tuple(
                m if m is None or slot.kind == DETECTION else m.astype(np.float32)
                for m, slot in zip(masks, slots)
            ),
        )
        return plan.rows(np.full(count, n))


def check_logit_slots(plan: TargetPlan, gradients: bool) -> None:
    """Refuse logit gradients (`Probe.run(logit_gradients=True)`) for targets that
    are not classes, or for a pass without a backward part."""
    kinds = sorted({slot.kind for slot in plan.slots if slot.kind not in CLASS_SLOTS})
    if kinds or not gradients:
        raise ValueError(
            "logit gradients are taken for class targets in a pass with gradients. "
            f"Received: slot kinds {kinds}, gradients={gradients}"
        )
