"""The report's map of the maps: per class, the maps as points in two dimensions.

The maps are compared as the clusters compare them (downsampled, normalised to
unit mass) and placed by their first two principal components (scikit-learn's
PCA: deterministic, and linear, so distances along an axis mean the same
everywhere); each point is coloured by its heatmap cluster. Hovering a point
shows its image and map; clicking it shows only its cluster in the gallery
(clicking it again shows all).
"""

from __future__ import annotations

import html

import numpy as np

from .clusters import downsample, normalise
from .report_pictures import Pictures

POINTS = 300
"""The most points per class (spread over the class's clustered maps)."""

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
_SIDE, _MARGIN = 300, 12


def embedding_section(rows, maps, clusters: dict, pictures: Pictures, name) -> str:
    """The section's HTML.

    Args:
        rows: the report's records, indexed by row position.
        maps: the records' maps (h, w), by row position.
        clusters: per class, `(row positions, Clusters)` (`report.cluster_classes`).
        pictures: where the pictures go; name: class id -> its name.
    """
    parts = [
        "<h2>Map of the maps</h2><p>Per class, each image's map as a point: the first "
        "two principal components of the downsampled, normalised maps, coloured by "
        "heatmap cluster. Nearby points are images explained by the same region. Hover "
        "a point for its image and map; click it to show only its cluster in the "
        "gallery (click again to show all). <span id='cluster-filter-status'></span></p>"
        "<figure id='embedding-tip' hidden><figcaption></figcaption></figure>"
    ]
    for class_id, (index, found) in clusters.items():
        keep = np.arange(len(index))
        if len(keep) > POINTS:
            keep = np.unique(np.linspace(0, len(keep) - 1, POINTS).astype(int))
        chosen = index[keep]
        coordinates = embed(np.stack([maps[i] for i in chosen]))
        dots = []
        for (x, y), position, k in zip(coordinates, chosen, found.labels[keep]):
            row = rows.loc[position]
            caption = (
                f"#{int(row['index'])} {name(int(row['class']))} -> "
                f"{name(int(row['predicted']))}, cluster {int(k) + 1}"
            )
            dots.append(
                f"<circle cx='{x:.1f}' cy='{y:.1f}' r='5' fill='{COLOURS[int(k) % len(COLOURS)]}' "
                f"data-index='{int(row['index'])}' data-cluster='{class_id}-{int(k)}' "
                f"data-picture='{pictures.record(row, maps[position])}' "
                f"data-caption='{html.escape(caption, quote=True)}'></circle>"
            )
        parts.append(
            f"<section class='embedding filterable' data-class='{class_id}'><h3>"
            f"{html.escape(name(class_id))}: {len(chosen)} maps, {len(found.mean_maps)} "
            f"cluster{'s' if len(found.mean_maps) > 1 else ''}</h3>"
            f"<svg viewBox='0 0 {_SIDE} {_SIDE}' "
            f"width='{_SIDE}' height='{_SIDE}'>{''.join(dots)}</svg></section>"
        )
    return "".join(parts)


def embed(heatmaps: np.ndarray, size: int = 8) -> np.ndarray:
    """(N, 2) positions in the picture's square for N maps (h, w): the first two
    principal components of the downsampled, normalised maps, both axes scaled
    by the same factor (so the picture keeps the distances' proportions)."""
    count = len(heatmaps)
    features = normalise(downsample(np.asarray(heatmaps, np.float64), size)).reshape(count, -1)
    points = np.zeros((count, 2))
    if count >= 3:
        from sklearn.decomposition import PCA

        found = PCA(n_components=2, svd_solver="full").fit_transform(features)
        points[:, : found.shape[1]] = found
    points -= (points.max(axis=0) + points.min(axis=0)) / 2
    extent = np.abs(points).max()
    scale = (_SIDE / 2 - _MARGIN) / extent if extent > 0 else 0.0
    return points * scale + _SIDE / 2


EMBEDDING_STYLE = """
.embedding { display: inline-block; vertical-align: top; margin: 0 12px 8px 0; }
.embedding svg { background: #fafafa; border: 1px solid #ddd; }
.embedding circle { cursor: pointer; stroke: #fff; stroke-width: 1; opacity: 0.85; }
.embedding circle.active { stroke: #000; stroke-width: 2; }
#embedding-tip { position: fixed; z-index: 10; background: #fff; border: 1px solid #888;
  padding: 4px; pointer-events: none; }
.off-cluster { display: none !important; }
"""

EMBEDDING_SCRIPT = """
(function () {
  var tip = document.getElementById('embedding-tip');
  var status = document.getElementById('cluster-filter-status');
  if (!tip) return;
  var active = null;
  function apply() {
    document.querySelectorAll('#gallery > figure').forEach(function (card) {
      card.classList.toggle('off-cluster', active !== null && card.dataset.cluster !== active);
    });
    document.querySelectorAll('.embedding circle').forEach(function (dot) {
      dot.classList.toggle('active', dot.dataset.cluster === active);
    });
    status.textContent = active === null ? '' :
      'The gallery shows cluster ' + active + ' only.';
  }
  document.querySelectorAll('.embedding circle').forEach(function (dot) {
    dot.addEventListener('mouseenter', function (event) {
      var picture = tip.querySelector('img') ||
        tip.insertBefore(document.createElement('img'), tip.firstChild);
      picture.src = dot.dataset.picture;
      tip.querySelector('figcaption').textContent = dot.dataset.caption;
      tip.style.left = (event.clientX + 12) + 'px';
      tip.style.top = (event.clientY + 12) + 'px';
      tip.hidden = false;
    });
    dot.addEventListener('mouseleave', function () { tip.hidden = true; });
    dot.addEventListener('click', function () {
      active = active === dot.dataset.cluster ? null : dot.dataset.cluster;
      apply();
    });
  });
})();
"""
