"""How concentrated a map is: sparseness (Gini index) and complexity (entropy).

- Sparseness (Chalasani et al. 2020, "Concise explanations of neural networks
  using adversarial training"; Quantus's `Sparseness`): the Gini index of the
  map's magnitudes, 0 for a uniform map, near 1 for a map on one cell. Higher
  is more concise.
- Complexity (Bhatt et al. 2020, "Evaluating and aggregating feature-based
  model explanations"; Quantus's `Complexity`): the entropy of the map's
  magnitudes as a distribution, 0 for a map on one cell, log(cells) for a
  uniform map. Lower is simpler.

Both are computed on the map as given (at the explained layer's resolution),
not upsampled to the image: upsampling would smooth the cells and change both
numbers without changing the explanation. An all-zero map has neither: NaN.
"""

from __future__ import annotations

import numpy as np


def sparseness(heatmaps) -> np.ndarray:
    """(N,) the Gini index of each map's magnitudes.

    With the n magnitudes sorted increasingly, a_1 <= ... <= a_n:
    G = sum_k (2k - n - 1) a_k / (n sum_k a_k).

    Args:
        heatmaps: (N, ...) maps of any rank.
    """
    values = _magnitudes(heatmaps)
    ordered = np.sort(values, axis=1)
    n = values.shape[1]
    ranks = 2 * np.arange(1, n + 1) - n - 1
    totals = ordered.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, (ordered * ranks).sum(axis=1) / (n * totals), np.nan)


def complexity(heatmaps) -> np.ndarray:
    """(N,) the entropy (natural log) of each map's magnitudes as a distribution:
    -sum p log p with p = |a| / sum |a| (0 log 0 = 0).

    Args:
        heatmaps: (N, ...) maps of any rank.
    """
    values = _magnitudes(heatmaps)
    totals = values.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = values / totals
        terms = np.where(shares > 0, -shares * np.log(np.where(shares > 0, shares, 1)), 0.0)
    return np.where(totals[:, 0] > 0, terms.sum(axis=1), np.nan)


def _magnitudes(heatmaps) -> np.ndarray:
    heatmaps = np.asarray(heatmaps, np.float64)
    if heatmaps.ndim < 2 or heatmaps[0].size == 0:
        raise ValueError(
            f"heatmaps must be (N, ...) maps of at least one cell. Received: "
            f"heatmaps.shape={heatmaps.shape}"
        )
    return np.abs(heatmaps.reshape(len(heatmaps), -1))
