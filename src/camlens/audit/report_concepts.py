"""The report's concept cards: per class, one card per concept, most important first.

A card shows the concept's mean map over the class, its share of the class score
and the images where it is strongest, each with the concept's own map over it.
"""

from __future__ import annotations

import html

import numpy as np

from .concept_results import read_concepts
from .report_pictures import Pictures

STRONGEST_SHOWN = 6


def concept_section(out_dir, rows, pictures: Pictures, name) -> str:
    """The section's HTML, or "" when the audit learned no concepts.

    Args:
        out_dir: the audit's folder.
        rows: the report's records (one per image, with `index`, `path`,
            `label`, `predicted`), indexed by row.
        pictures: where the pictures go.
        name: class id -> its name.
    """
    found = read_concepts(out_dir)
    if found is None:
        return ""
    summary, per_class = found
    whose = "label" if summary["kind"] == "label" else "prediction (the top class)"
    layer = summary["layer"] if summary["layer"] is not None else "the explained layer"
    parts = [
        "<h2>Concepts per class</h2>"
        f"<p id='concepts-intro'>Concepts are per class of the <b>{whose}</b>: per class, "
        f"{summary['concepts']} concepts from a non-negative factorisation of "
        f"{html.escape(str(layer))}'s activations over the class's images (DFF, CRAFT). "
        "A card shows the concept's mean map, its share of the class score (gradient "
        "x input of the class logit along the concept, averaged over the class; the "
        "shares' magnitudes add up to 100%), and the images where it is strongest, "
        "with the concept's map over them. A leading concept off the object is a "
        "shortcut worth a look.</p>"
    ]
    by_index = {int(index): position for position, index in enumerate(rows["index"])}
    for class_id, concepts in per_class.items():
        cards = [
            _concept_card(class_id, j, concepts, rows, by_index, pictures, name)
            for j in range(len(concepts.importance))
        ]
        parts.append(
            f"<section class='concepts filterable' data-class='{class_id}'>"
            f"<h3>{html.escape(name(class_id))}: {len(cards)} concepts over "
            f"{concepts.images} images</h3>{''.join(cards)}</section>"
        )
    return "".join(parts)


def _concept_card(class_id, j, concepts, rows, by_index, pictures, name) -> str:
    share = concepts.share[j]
    mean = pictures.mean_map(f"concept-{class_id}-{j}.jpg", _unit(concepts.mean_maps[j]))
    figures = []
    for image_id, concept_map in zip(
        concepts.strongest[j][:STRONGEST_SHOWN], concepts.strongest_maps[j]
    ):
        position = by_index.get(int(image_id))
        if position is None:
            continue
        row = rows.iloc[position]
        picture = pictures.record(
            row, _unit(concept_map), name=f"concept-{class_id}-{j}-{int(image_id):06d}.jpg"
        )
        caption = (
            f"#{int(image_id)} {html.escape(name(int(row['class'])))} &rarr; "
            f"{html.escape(name(int(row['predicted'])))}"
        )
        figures.append(
            f"<figure class='strongest' data-index='{int(image_id)}'><img src='{picture}' "
            f"alt=''><figcaption>{caption}</figcaption></figure>"
        )
    return (
        f"<div class='concept' data-class='{class_id}' data-concept='{j + 1}' "
        f"data-share='{share:.6f}'><div class='grid'><figure class='mean'><img src='{mean}' "
        f"alt='concept mean map'><figcaption>concept {j + 1}: <span class='share'>"
        f"{100 * share:.0f}%</span> of the class score</figcaption></figure>"
        f"{''.join(figures)}</div></div>"
    )


def _unit(heatmap: np.ndarray) -> np.ndarray:
    peak = float(np.max(heatmap)) if heatmap.size else 0.0
    return heatmap / peak if peak > 0 else np.zeros_like(heatmap)
