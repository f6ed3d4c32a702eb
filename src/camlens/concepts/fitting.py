"""Concepts per class from a stream of batches: learn the bases, then measure them.

Two passes over the same batches (in memory, or read back from disk by the
audit): the first feeds each class's `BasisLearner` (a sample of positions per
image, for `epochs`), the second computes every image's coefficient maps against
the learned bases and accumulates, per class and concept, the importance (mean
gradient x input), the mean map and the images where the concept is strongest.
Nothing is kept per position; per image, `2k` numbers.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from .factorization import BasisLearner, coefficients, contributions


@dataclass
class ConceptBatch:
    """The probe's arrays for a batch of images, at the concepts' layer.

    Attributes:
        ids: (n,) image ids (the audit's indices).
        classes: (n,) the class whose concepts each image belongs to.
        activations: (n, *grid, C) non-negative activations.
        gradients: (n, *grid, C) gradient of each image's class score (the logit).
        scales: `None`, or (2, n) where the arrays are stored in steps (16-bit
            integers, as the audit stores them: the value is stored x step):
            each image's step of its activations and of its gradients. They are
            turned back to float32 only where read (`images`, `rows`).
    """

    ids: np.ndarray
    classes: np.ndarray
    activations: np.ndarray
    gradients: np.ndarray
    scales: np.ndarray | None = None

    def images(self, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(activations, gradients) of the images at positions `where`, float32."""
        activations = np.asarray(self.activations[where], np.float32)
        gradients = np.asarray(self.gradients[where], np.float32)
        if self.scales is None:
            return activations, gradients
        shape = (-1,) + (1,) * (activations.ndim - 1)
        return (
            activations * self.scales[0][where].reshape(shape),
            gradients * self.scales[1][where].reshape(shape),
        )

    def rows(self, where: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """(len(where) * m, C) float32 activations of the images at `where`, each at
        its flat `positions` (len(where), m) of the grid, image by image."""
        flat = self.activations.reshape(len(self.activations), -1, self.activations.shape[-1])
        rows = np.asarray(flat[where[:, None], positions], np.float32)
        if self.scales is not None:
            rows *= self.scales[0][where].reshape(-1, 1, 1)
        return rows.reshape(-1, rows.shape[-1])


@dataclass
class ClassConcepts:
    """The concepts of one class, most important first.

    Attributes:
        class_id: the class.
        bases: (k, C) each concept's direction in the layer's channels (unit length).
        importance: (k,) mean over the class's images of the concept's gradient x
            input for the class score (CRAFT's gradient-input estimator).
        images: how many images the class had.
        mean_maps: (k, *grid) the concept's coefficient map averaged over the class.
        strongest: per concept, the ids of the images with its largest mean
            coefficient, strongest first.
        strongest_maps: per concept, (m, *grid) those images' coefficient maps.
    """

    class_id: int
    bases: np.ndarray
    importance: np.ndarray
    images: int
    mean_maps: np.ndarray
    strongest: list = field(default_factory=list)
    strongest_maps: list = field(default_factory=list)

    @property
    def share(self) -> np.ndarray:
        """(k,) each concept's importance over the sum of their magnitudes (signed;
        the magnitudes sum to 1): its share of the class score's evidence."""
        total = np.abs(self.importance).sum()
        return self.importance / total if total > 0 else np.zeros_like(self.importance)


@dataclass
class ImageConcepts:
    """Per image: its class and each concept's coefficient and contribution.

    Attributes:
        ids: (N,) image ids; `classes`: (N,) their classes.
        coefficients: (N, k) each concept's coefficient averaged over the
            positions, in the order of the class's concepts.
        contributions: (N, k) each concept's gradient x input for the class score.
    """

    ids: np.ndarray
    classes: np.ndarray
    coefficients: np.ndarray
    contributions: np.ndarray


def fit_concepts(
    batches: Callable[[], Iterable[ConceptBatch]],
    concepts: int,
    seed: int = 0,
    epochs: int = 2,
    positions: int = 64,
    strongest: int = 6,
) -> tuple[dict[int, ClassConcepts], ImageConcepts]:
    """Concepts of every class met in `batches`, and each image's measures.

    Args:
        batches: a function returning a fresh iterable of `ConceptBatch`es (it is
            called `epochs + 1` times; the same batches, in the same order).
        concepts: `k`, concepts per class.
        seed: of the factorisation and of the positions sampled.
        epochs: passes over the data while learning the bases.
        positions: positions per image sampled for learning (all where fewer):
            the bases learn from every image at a fraction of the cost.
        strongest: images kept per concept.

    Returns:
        `(per_class, per_image)`: `ClassConcepts` by class id, and `ImageConcepts`.
    """
    from ..methods.threads import one_blas_thread

    # Small products (k concepts by C channels): waking BLAS's threads cost more
    # than the work, 0.9 s against 0.55 s for the demo's 2,000 images under load.
    with one_blas_thread():
        return _fitted(batches, concepts, seed, epochs, positions, strongest)


def _fitted(batches, concepts: int, seed: int, epochs: int, positions: int, strongest: int):
    learners: dict[int, BasisLearner] = {}
    for epoch in range(epochs):
        for batch in batches():
            for class_id, rows in _sampled_rows(batch, seed, epoch, positions):
                learner = learners.setdefault(class_id, BasisLearner(concepts, seed))
                learner.feed(rows)
        for learner in learners.values():
            learner.flush()
    bases = {class_id: learner.bases() for class_id, learner in learners.items()}
    totals = {c: _Totals(len(b), strongest) for c, b in bases.items()}
    ids, classes, coefficient_rows, contribution_rows = [], [], [], []
    for batch in batches():
        measured = _measured(batch, bases)
        for n, class_id in enumerate(np.asarray(batch.classes).tolist()):
            maps, means, parts = measured[n]
            totals[class_id].add(int(batch.ids[n]), maps, means, parts)
            ids.append(int(batch.ids[n]))
            classes.append(class_id)
            coefficient_rows.append(means)
            contribution_rows.append(parts)
    per_class = {c: totals[c].result(c, bases[c]) for c in sorted(bases)}
    orders = {c: _order(totals[c]) for c in per_class}
    width = concepts
    coefficient_rows = [row[orders[c]] for row, c in zip(coefficient_rows, classes)]
    contribution_rows = [row[orders[c]] for row, c in zip(contribution_rows, classes)]
    per_image = ImageConcepts(
        ids=np.asarray(ids, np.int64),
        classes=np.asarray(classes, np.int64),
        coefficients=np.reshape(coefficient_rows, (-1, width)),
        contributions=np.reshape(contribution_rows, (-1, width)),
    )
    return per_class, per_image


def measure_image(activations: np.ndarray, gradients: np.ndarray, bases: np.ndarray):
    """`(maps (*grid, k), coefficients (k,), contributions (k,))` of one image.

    Args:
        activations, gradients: (*grid, C) the image's arrays at the layer.
        bases: (k, C) its class's concepts.
    """
    maps, means, parts = measure_images(activations[None], gradients[None], bases)
    return maps[0], means[0], parts[0]


def measure_images(activations: np.ndarray, gradients: np.ndarray, bases: np.ndarray):
    """`(maps (n, *grid, k), coefficients (n, k), contributions (n, k))` of images
    of one class, in one solve: each position's coefficients depend on that
    position alone, so stacking the images changes nothing but the speed.

    Args:
        activations, gradients: (n, *grid, C) the images' arrays at the layer.
        bases: (k, C) their class's concepts.
    """
    count, grid = len(activations), activations.shape[1:-1]
    maps = coefficients(activations.reshape(-1, activations.shape[-1]), bases)
    maps = maps.reshape(count, *grid, len(bases))
    parts = contributions(maps, gradients, bases)
    return maps, maps.reshape(count, -1, len(bases)).mean(axis=1), parts


def _measured(batch: ConceptBatch, bases: dict) -> list:
    """`measure_images` of a batch, class by class: per image, (maps, coefficients,
    contributions), in the batch's order."""
    classes = np.asarray(batch.classes)
    measured: list = [None] * len(classes)
    for class_id in np.unique(classes).tolist():
        where = np.flatnonzero(classes == class_id)
        found = measure_images(*batch.images(where), bases[class_id])
        for row, n in enumerate(where.tolist()):
            measured[n] = tuple(array[row] for array in found)
    return measured


def _sampled_rows(batch: ConceptBatch, seed: int, epoch: int, positions: int):
    """(class id, rows) per class of the batch: `positions` rows per image (all where
    fewer), in the batch's order, chosen by a hash of (seed, epoch, image id,
    position), so the rows do not depend on how images were batched."""
    ids = np.asarray(batch.ids, np.int64)
    classes = np.asarray(batch.classes)
    count = int(np.prod(np.shape(batch.activations)[1:-1]))
    every = np.arange(count)
    if count > positions:
        keys = _mix(ids[:, None].astype(np.uint64) * np.uint64(count) + every.astype(np.uint64))
        keys ^= _mix(np.array([seed * 2**20 + epoch], np.uint64))
        chosen = np.sort(np.argpartition(_mix(keys), positions - 1, axis=1)[:, :positions], 1)
    else:
        chosen = np.broadcast_to(every, (len(ids), count))
    for class_id in dict.fromkeys(classes.tolist()):
        where = np.flatnonzero(classes == class_id)
        yield class_id, batch.rows(where, chosen[where])


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of uint64 values: well-spread 64-bit hashes."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class _Totals:
    """Running sums of one class: contributions, maps, and the strongest images."""

    def __init__(self, concepts: int, keep: int):
        self.count = 0
        self.contributions = np.zeros(concepts)
        self.maps: np.ndarray | None = None
        self.keep = keep
        self.heaps: list[list] = [[] for _ in range(concepts)]

    def add(self, image_id: int, maps: np.ndarray, means: np.ndarray, parts: np.ndarray):
        self.count += 1
        self.contributions += parts
        moved = np.moveaxis(maps, -1, 0)
        self.maps = moved.copy() if self.maps is None else self.maps + moved
        for j, heap in enumerate(self.heaps):
            entry = (float(means[j]), -image_id, moved[j])
            if len(heap) < self.keep:
                heapq.heappush(heap, entry)
            elif entry[:2] > heap[0][:2]:
                heapq.heapreplace(heap, entry)

    def result(self, class_id: int, bases: np.ndarray) -> ClassConcepts:
        assert self.maps is not None, "a class has at least one image"
        order = _order(self)
        ranked = [sorted(self.heaps[j], key=lambda e: e[:2], reverse=True) for j in order]
        return ClassConcepts(
            class_id=class_id,
            bases=bases[order],
            importance=(self.contributions / self.count)[order],
            images=self.count,
            mean_maps=(self.maps / self.count)[order],
            strongest=[[-entry[1] for entry in heap] for heap in ranked],
            strongest_maps=[np.stack([entry[2] for entry in heap]) for heap in ranked],
        )


def _order(totals: _Totals) -> np.ndarray:
    """Concepts by importance, largest first (ties by concept number)."""
    return np.argsort(-totals.contributions, kind="stable")
