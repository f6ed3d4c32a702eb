"""Heatmap clusters per class, as in SpRAy (Lapuschkin et al. 2019, "Unmasking
Clever Hans predictors").

A pipeline of small steps: downsample the maps, normalise each to unit mass,
link each map to its nearest neighbours, pick the number of clusters at the
largest gap of the graph Laplacian's spectrum (the eigengap), and cluster the
spectral embedding (scikit-learn). A group of images the model explains by the
same region, say a watermark in a corner, comes out as one cluster whose mean
map lies on that region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..resize import interpolation_matrix


@dataclass
class Clusters:
    """The clusters of N maps.

    Attributes:
        labels: (N,) cluster id of each map, clusters numbered by size (0 largest).
        mean_maps: (k, h, w) the mean normalised map of each cluster, at the maps'
            resolution, scaled to a maximum of 1.
        eigenvalues: the smallest eigenvalues of the normalised Laplacian; the
            gap after the k-th chose k.
    """

    labels: np.ndarray
    mean_maps: np.ndarray
    eigenvalues: np.ndarray


def cluster_maps(
    heatmaps: np.ndarray, max_clusters: int = 5, size: int = 8, neighbors: int = 10, seed: int = 0
) -> Clusters:
    """Spectral clusters of heatmaps.

    Args:
        heatmaps: (N, h, w) non-negative maps.
        max_clusters: the most clusters to return.
        size: maps are compared at (size, size).
        neighbors: neighbours per map in the affinity graph.
        seed: of the k-means step of the spectral clustering.

    Returns:
        `Clusters`; fewer than 4 maps form one cluster.
    """
    heatmaps = np.asarray(heatmaps, np.float64)
    if heatmaps.ndim != 3:
        raise ValueError(f"heatmaps must be (N, h, w). Received: heatmaps.shape={heatmaps.shape}")
    if max_clusters < 1:
        raise ValueError(f"max_clusters must be at least 1. Received: max_clusters={max_clusters}")
    count = len(heatmaps)
    if count < 4 or max_clusters == 1:
        return _result(heatmaps, np.zeros(count, int), np.zeros(0))
    features = normalise(downsample(heatmaps, size)).reshape(count, -1)
    affinity = knn_affinity(features, min(neighbors, count - 1))
    eigenvalues = laplacian_spectrum(affinity, min(max_clusters + 1, count))
    k = choose_count(eigenvalues)
    if k == 1:
        return _result(heatmaps, np.zeros(count, int), eigenvalues)
    import warnings

    from sklearn.cluster import SpectralClustering

    with warnings.catch_warnings():  # separate groups are what we look for
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        labels = SpectralClustering(
            n_clusters=k, affinity="precomputed", random_state=seed
        ).fit_predict(affinity)
    return _result(heatmaps, labels, eigenvalues)


def choose_count(eigenvalues: np.ndarray, weak_link: float = 0.2) -> int:
    """The number of clusters: the largest eigengap among the eigenvalues below
    `weak_link` (k groups whose normalised cut is small); 1 when none is."""
    small = int(np.sum(eigenvalues < weak_link))
    if small < 2:
        return 1
    gaps = np.diff(eigenvalues[: small + 1]) if small < len(eigenvalues) else np.diff(eigenvalues)
    return int(np.argmax(gaps)) + 1


def downsample(heatmaps: np.ndarray, size: int) -> np.ndarray:
    """(N, h, w) -> (N, size, size) by bilinear resampling."""
    rows = interpolation_matrix(size, heatmaps.shape[1])
    cols = interpolation_matrix(size, heatmaps.shape[2])
    return rows @ heatmaps @ cols.T


def normalise(maps: np.ndarray) -> np.ndarray:
    """Each map divided by its total mass (all-zero maps stay zero)."""
    totals = maps.sum(axis=(1, 2), keepdims=True)
    return np.where(totals > 0, maps / np.where(totals > 0, totals, 1), 0.0)


def knn_affinity(features: np.ndarray, neighbors: int) -> np.ndarray:
    """(N, N) symmetric affinity linking each row to its `neighbors` nearest rows,
    weighted exp(-(d / s)^2) with s the median neighbour distance d (Euclidean)."""
    from sklearn.neighbors import kneighbors_graph

    distances = kneighbors_graph(features, neighbors, mode="distance").toarray()
    linked = distances > 0
    scale = np.median(distances[linked]) if linked.any() else 1.0
    weights = np.where(linked, np.exp(-((distances / max(scale, 1e-12)) ** 2)), 0.0)
    return np.maximum(weights, weights.T)


def laplacian_spectrum(affinity: np.ndarray, count: int) -> np.ndarray:
    """The `count` smallest eigenvalues of the symmetric normalised Laplacian."""
    from scipy.sparse.csgraph import laplacian

    return np.linalg.eigvalsh(laplacian(affinity, normed=True))[:count]


def _result(heatmaps: np.ndarray, labels: np.ndarray, eigenvalues: np.ndarray) -> Clusters:
    order = np.argsort(-np.bincount(labels), kind="stable")
    labels = np.argsort(order)[labels]  # renumber: 0 is the largest cluster
    normalised = normalise(heatmaps)
    means = np.stack([normalised[labels == k].mean(axis=0) for k in range(len(order))])
    peaks = means.max(axis=(1, 2), keepdims=True)
    means = np.where(peaks > 0, means / np.where(peaks > 0, peaks, 1), 0.0)
    return Clusters(labels=labels, mean_maps=means, eigenvalues=eigenvalues)
