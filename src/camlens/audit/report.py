"""The audit's report: one HTML page that opens offline, its pictures beside it.

Per class: count, accuracy, mean score and localization (when masks or boxes
were given); a gallery filterable by class and sortable by score or
localization; the worst-localized images; the concepts of each class, when the
audit learned them (`report_concepts`); and the heatmap clusters of each class
(`clusters.cluster_maps`), each shown as its mean map and a few members.
Filtering and sorting are a few lines of plain JavaScript in the page.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from ..files.writing import write_atomically
from .clusters import cluster_maps
from .report_concepts import concept_section
from .report_embedding import EMBEDDING_SCRIPT, EMBEDDING_STYLE, embedding_section
from .report_pictures import PICTURES, Pictures, overlay_png
from .writer import read_records

__all__ = ["PICTURES", "REPORT", "overlay_png", "write_report"]

REPORT = "report.html"
_CLUSTER_MEMBERS = 6
_CLUSTER_SAMPLE = 2000


def write_report(
    out_dir,
    options: dict,
    class_names=None,
    gallery_size: int = 48,
    worst: int = 24,
    max_clusters: int = 5,
) -> Path:
    """Write `out_dir/report.html` and its pictures from the audit's records.

    Args:
        out_dir: the audit's folder.
        options: the audit's options (`AuditOptions.as_dict()`); the report shows
            the first method and the top target (the label's when only that was
            explained).
        class_names: names indexed by class id, or `None` for ids.
        gallery_size: images per class in the gallery (spread over the score range).
        worst: how many worst-localized images to show.
        max_clusters: the most heatmap clusters per class.

    Returns:
        The path of the page.
    """
    out_dir = Path(out_dir)
    frame = read_records(out_dir).to_pandas()
    kind = "top" if options["target"] in ("top", "both") else "label"
    failures = frame[frame["error"].notna()]
    rows = frame[(frame["method"] == options["methods"][0]) & (frame["target_kind"] == kind)]
    rows = rows.sort_values("index").reset_index(drop=True)
    labelled = rows["label"].notna().any()
    rows["class"] = (rows["label"] if labelled else rows["predicted"]).astype(int)
    maps = _maps(rows)
    pictures = Pictures(out_dir / PICTURES)
    names = _namer(class_names)

    clusters = cluster_classes(rows, maps, max_clusters)
    membership = {
        int(i): f"{class_id}-{k}"
        for class_id, (index, found) in clusters.items()
        for i, k in zip(index, found.labels)
    }
    parts = [_head(options, kind, len(rows), len(failures))]
    parts.append(_class_table(rows, names, labelled))
    parts.append(_controls(sorted(rows["class"].unique()), names))
    shown = _gallery_rows(rows, gallery_size)
    parts.append(
        _section(
            "Gallery",
            "gallery",
            [_card(rows.loc[i], maps[i], pictures, names, membership.get(i)) for i in shown],
        )
    )
    if rows["energy"].notna().any():
        located = rows[rows["energy"].notna()].sort_values(["energy", "index"]).head(worst)
        parts.append(
            _section(
                f"{len(located)} worst-localized images",
                "worst",
                [_card(rows.loc[i], maps[i], pictures, names) for i in located.index],
            )
        )
    parts.append(concept_section(out_dir, rows, pictures, names))
    parts.append(embedding_section(rows, maps, clusters, pictures, names))
    parts.append(_clusters(rows, maps, clusters, pictures, names))
    if len(failures):
        parts.append(_failures(failures))
    page = _PAGE.format(
        body="\n".join(parts), script=_SCRIPT + EMBEDDING_SCRIPT, style=_STYLE + EMBEDDING_STYLE
    )
    path = out_dir / REPORT
    write_atomically(path, page.encode())
    return path


def _maps(rows) -> list[np.ndarray]:
    return [
        np.asarray(cells, np.float64).reshape(int(h), int(w))
        for cells, h, w in zip(rows["heatmap"], rows["heatmap_height"], rows["heatmap_width"])
    ]


def _namer(class_names):
    def name(class_id: int) -> str:
        if class_names is not None and 0 <= class_id < len(class_names):
            return str(class_names[class_id])
        return str(class_id)

    return name


def _gallery_rows(rows, size: int) -> list[int]:
    """Per class, at most `size` rows spread evenly over the score range."""
    chosen = []
    for _, group in rows.groupby("class"):
        ranked = group.sort_values("score").index.to_numpy()
        if len(ranked) > size:
            ranked = ranked[np.unique(np.linspace(0, len(ranked) - 1, size).round().astype(int))]
        chosen += ranked.tolist()
    return sorted(chosen)  # data order, as the page's "data order" sort


def _head(options: dict, kind: str, images: int, failures: int) -> str:
    what = f"{options['methods'][0]} maps of the {'top prediction' if kind == 'top' else 'label'}"
    return (
        f"<h1>camlens audit</h1><p id='summary'>{images} images audited, {failures} "
        f"failed to read; {html.escape(what)}.</p>"
    )


def _class_table(rows, name, labelled: bool) -> str:
    lines = [
        "<h2>Classes</h2><table id='classes'><thead><tr><th>class</th><th>images</th>"
        "<th>accuracy</th><th>mean score</th><th>pointing game</th><th>energy in object</th>"
        "</tr></thead><tbody>"
    ]
    for class_id, group in rows.groupby("class"):
        accuracy = (group["predicted"] == group["label"]).mean() if labelled else None
        cells = [
            html.escape(name(class_id)),
            str(len(group)),
            _number(accuracy),
            _number(group["score"].mean()),
            _number(group["pointing_game"].astype(float).mean()),
            _number(group["energy"].mean()),
        ]
        lines.append(
            f"<tr class='filterable' data-class='{class_id}'>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    return "".join(lines) + "</tbody></table>"


def _controls(classes, name) -> str:
    options = "".join(f"<option value='{c}'>{html.escape(name(c))}</option>" for c in classes)
    return (
        "<div id='controls'><label>class <select id='class-filter'><option value=''>all"
        f"</option>{options}</select></label> <label>sort <select id='sort'>"
        "<option value='index'>data order</option>"
        "<option value='score-desc'>score, highest first</option>"
        "<option value='score-asc'>score, lowest first</option>"
        "<option value='energy-asc'>localization, worst first</option>"
        "<option value='energy-desc'>localization, best first</option>"
        "</select></label></div>"
    )


def _card(row, heatmap, pictures: Pictures, name, cluster: str | None = None) -> str:
    energy = "" if row["energy"] != row["energy"] or row["energy"] is None else row["energy"]
    caption = (
        f"#{int(row['index'])} {html.escape(name(int(row['class'])))} &rarr; "
        f"{html.escape(name(int(row['predicted'])))}<br>score {row['score']:.3f}"
    )
    if energy != "":
        caption += f" &middot; energy {energy:.2f}{'' if row['pointing_game'] else ' (miss)'}"
    path = row["path"] if isinstance(row["path"], str) else f"image {int(row['index'])}"
    title = html.escape(path, quote=True)
    return (
        f"<figure class='card filterable' data-class='{int(row['class'])}' "
        f"data-index='{int(row['index'])}' data-score='{row['score']:.6f}' "
        f"data-energy='{energy}'{'' if cluster is None else f' data-cluster={cluster!r}'}>"
        f"<img src='{pictures.record(row, heatmap)}' alt='' "
        f"title='{title}'><figcaption>{caption}</figcaption></figure>"
    )


def _section(title: str, ident: str, cards: list[str]) -> str:
    grid = f"<div class='grid sortable' id='{ident}'>{''.join(cards)}</div>"
    return f"<h2>{html.escape(title)}</h2>{grid}"


def cluster_classes(rows, maps, max_clusters: int) -> dict:
    """Per class, `(row positions, Clusters)` of its maps (a sample of at most
    `_CLUSTER_SAMPLE`, spread over the data)."""
    result = {}
    for class_id, group in rows.groupby("class"):
        index = group.index.to_numpy()
        if len(index) > _CLUSTER_SAMPLE:
            index = index[np.linspace(0, len(index) - 1, _CLUSTER_SAMPLE).astype(int)]
        found = cluster_maps(np.stack([maps[i] for i in index]), max_clusters=max_clusters)
        result[int(class_id)] = (index, found)
    return result


def _clusters(rows, maps, clusters: dict, pictures: Pictures, name) -> str:
    parts = [
        "<h2>Heatmap clusters per class</h2><p>Spectral clustering of the downsampled, "
        "normalised maps (SpRAy): a cluster whose mean map lies off the object is a "
        "shortcut worth a look.</p>"
    ]
    for class_id, (index, found) in clusters.items():
        for k, mean_map in enumerate(found.mean_maps):
            members = index[found.labels == k]
            mean = pictures.mean_map(f"cluster-{class_id}-{k}.jpg", mean_map)
            cards = "".join(
                _card(rows.loc[i], maps[i], pictures, name, f"{class_id}-{k}")
                for i in members[:_CLUSTER_MEMBERS]
            )
            parts.append(
                f"<section class='cluster filterable' data-class='{class_id}' "
                f"data-cluster='{class_id}-{k}'><h3>"
                f"{html.escape(name(class_id))}: cluster {k + 1} of {len(found.mean_maps)}, "
                f"{len(members)} images</h3><div class='grid'><figure class='mean'>"
                f"<img src='{mean}' alt='mean map'><figcaption>mean map</figcaption></figure>"
                f"{cards}</div></section>"
            )
    return "".join(parts)


def _failures(failures) -> str:
    items = "".join(
        f"<li><code>{html.escape(str(p))}</code>: {html.escape(str(e))}</li>"
        for p, e in zip(failures["path"], failures["error"])
    )
    return f"<h2>{len(failures)} images not audited</h2><ul id='failures'>{items}</ul>"


def _number(value) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
figure { margin: 0; width: 140px; font-size: 11px; } figure img { width: 128px; height: 128px;
  object-fit: contain; image-rendering: pixelated; background: #eee; }
.cluster, .concepts { border-top: 1px solid #ccc; margin-top: 8px; }
.mean figcaption { font-weight: bold; } .concept { margin: 6px 0; }
[hidden] { display: none !important; } #controls { margin: 1em 0; }
"""

_SCRIPT = """
(function () {
  var filter = document.getElementById('class-filter');
  var sort = document.getElementById('sort');
  function applyFilter() {
    document.querySelectorAll('.filterable').forEach(function (el) {
      el.hidden = filter.value !== '' && el.dataset.class !== filter.value;
    });
  }
  function key(el, field) {
    var value = parseFloat(el.dataset[field]);
    return isNaN(value) ? null : value;
  }
  function applySort() {
    var parts = sort.value.split('-'), field = parts[0], sign = parts[1] === 'desc' ? -1 : 1;
    document.querySelectorAll('.sortable').forEach(function (grid) {
      var cards = Array.prototype.slice.call(grid.children);
      cards.sort(function (a, b) {
        var x = key(a, field), y = key(b, field);
        if (x === null && y === null) return key(a, 'index') - key(b, 'index');
        if (x === null) return 1;
        if (y === null) return -1;
        return sign * (x - y) || key(a, 'index') - key(b, 'index');
      });
      cards.forEach(function (card) { grid.appendChild(card); });
    });
  }
  filter.addEventListener('change', applyFilter);
  sort.addEventListener('change', applySort);
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>camlens audit</title>
<style>{style}</style></head>
<body>
{body}
<script>{script}</script>
</body></html>
"""
