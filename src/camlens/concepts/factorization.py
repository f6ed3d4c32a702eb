"""Concept bases from a layer's activations: a non-negative factorisation, streamed.

A layer's activations at every position of every image of a class, stacked as
rows `A (n, C)`, are factorised as `A ~ U W` with `U (n, k)` and `W (k, C)`
non-negative (Deep Feature Factorization, Collins et al. 2018; CRAFT, Fel et al.
2023): each row of `W` is a concept, a direction in the layer's channel space,
and `U` says how much of it each position holds. `W` is learned with
scikit-learn's `MiniBatchNMF`, one mini-batch at a time, so the rows never need
to be in memory together; `U` for given rows and bases is `coefficients`, a
non-negative least-squares solve of each row on its own.
"""

from __future__ import annotations

import warnings

import numpy as np

CHUNK_ROWS = 512
"""Rows per mini-batch step of the factorisation, whatever the batches fed."""

INNER_STEPS = 15
"""Multiplicative updates of a mini-batch's coefficients before each step of the
bases (`MiniBatchNMF`'s `fresh_restarts_max_iter`): its default, 30, took 1.6x as
long, and gave the demo's shortcut concepts within half a point of the same
shares (benchmarks/results/cpu-audit-concepts.md)."""


class BasisLearner:
    """Learns `concepts` bases from rows fed in any number of calls.

    Rows are buffered into mini-batches of `chunk_rows` (so the result depends
    on the rows and their order, not on how they were split into calls); each
    mini-batch is one `MiniBatchNMF.partial_fit` step (Frobenius loss, NNDSVDa
    initialisation from the first mini-batch, seeded, `INNER_STEPS` updates of the
    mini-batch's coefficients).

    Args:
        concepts: the number of concepts `k`.
        seed: the factorisation's random state.
        chunk_rows: rows per mini-batch step.
    """

    def __init__(self, concepts: int, seed: int = 0, chunk_rows: int = CHUNK_ROWS):
        from sklearn.decomposition import MiniBatchNMF

        self.concepts = concepts
        self.chunk_rows = max(chunk_rows, concepts)
        self.nmf = MiniBatchNMF(
            concepts,
            init="nndsvda",
            random_state=seed,
            max_no_improvement=None,
            fresh_restarts_max_iter=INNER_STEPS,
        )
        self.steps = 0
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0

    def feed(self, rows: np.ndarray) -> None:
        """Add rows `(n, C)` (non-negative); full mini-batches are learned from at once."""
        rows = np.asarray(rows, np.float32)
        self._pending.append(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= self.chunk_rows:
            stacked = np.concatenate(self._pending)
            whole = len(stacked) - len(stacked) % self.chunk_rows
            for start in range(0, whole, self.chunk_rows):
                self._step(stacked[start : start + self.chunk_rows])
            self._pending = [stacked[whole:]]
            self._pending_rows = len(stacked) - whole

    def flush(self) -> None:
        """Learn from the rows still buffered (the end of an epoch)."""
        if self._pending_rows and (self.steps or self._pending_rows >= self.concepts):
            self._step(np.concatenate(self._pending))
        self._pending, self._pending_rows = [], 0

    def bases(self) -> np.ndarray:
        """(k, C) the concepts learned, each scaled to unit length (zero rows stay zero)."""
        if not self.steps:
            raise ValueError(
                f"no concept was learned: fewer than concepts={self.concepts} activation "
                "rows were fed"
            )
        return unit_rows(self.nmf.components_)

    def _step(self, rows: np.ndarray) -> None:
        with warnings.catch_warnings():  # a step is not a converged fit; it need not be
            warnings.simplefilter("ignore")
            self.nmf.partial_fit(rows)
        self.steps += 1


CHECK_EVERY = 4
"""Sweeps of `coefficients` between two checks of which rows have converged."""


def coefficients(
    rows: np.ndarray, bases: np.ndarray, sweeps: int = 60, tolerance: float = 1e-10
) -> np.ndarray:
    """`U (n, k)`, non-negative, minimising `||rows - U bases||` for each row alone.

    Coordinate descent on each row's non-negative least squares (the HALS update),
    started from the unconstrained solution clipped at zero, for at most `sweeps`
    sweeps; a row stops once a sweep moves none of its coefficients by more than
    `tolerance` times its largest (checked every `CHECK_EVERY` sweeps), so a row's
    coefficients do not depend on the other rows of the call.

    Args:
        rows: (n, C) activations.
        bases: (k, C) concepts.
        sweeps: most passes over the k coordinates.
        tolerance: relative change under which a row has converged.
    """
    bases = np.asarray(bases, np.float64)
    gram = bases @ bases.T
    # Laid out (k, n): each coordinate's update reads and writes one contiguous row.
    cross = bases @ np.asarray(rows, np.float64).T
    diagonal = np.diag(gram).copy()
    used = np.flatnonzero(diagonal > 0)
    result = np.zeros((len(bases), len(cross[0])))
    if not len(used):
        return result.T
    inverse = np.linalg.pinv(gram[np.ix_(used, used)])
    result[used] = np.maximum(inverse.T @ cross[used], 0.0)
    moving = np.arange(result.shape[1])  # the rows not yet converged, and their arrays
    part, part_cross = result, cross
    for sweep in range(1, sweeps + 1):
        check = sweep % CHECK_EVERY == 0 or sweep == sweeps
        before = part.copy() if check else part  # (read only where checked)
        for j in used:
            step = (part_cross[j] - gram[j] @ part) / diagonal[j]
            part[j] = np.maximum(part[j] + step, 0.0)
        if check and part is not result:
            result[:, moving] = part
        if check and sweep < sweeps:
            change = np.abs(part - before).max(axis=0)
            going = change > tolerance * np.abs(part).max(axis=0)
            if not going.any():
                break
            moving = moving[going]
            part, part_cross = part[:, going], part_cross[:, going]
    return result.T


def contributions(maps: np.ndarray, gradients: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Each concept's gradient x input for the class score, per image: `(N, k)`.

    With `A ~ U W`, the gradient of the score along concept j at a position is
    `G . W_j`; times the coefficient `U_j` there, summed over the positions
    (CRAFT's gradient-input estimator of a concept's importance). The sum over
    concepts approximates `sum(G * A)`, the layer's gradient x input.

    Args:
        maps: (N, *grid, k) coefficients `U` at each position.
        gradients: (N, *grid, C) gradient of the class score at each position.
        bases: (k, C) unit-length concepts.
    """
    along = np.asarray(gradients, np.float32) @ np.asarray(bases, np.float32).T
    axes = tuple(range(1, maps.ndim - 1))
    return (np.asarray(maps, np.float64) * along).sum(axis=axes)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.where(norms > 0, matrix / np.where(norms > 0, norms, 1), 0.0)
