"""Explanations as HTML: the captioned panels as one fragment, for notebooks."""

from __future__ import annotations

import base64
import html
import io

from .checks import check_explanation, check_target_names
from .explanation import caption_lines, target_pictures


def explanation_to_html(expl, target_names=None):
    """Render an explanation as HTML: one figure per target, with a caption.

    Args:
        expl: an `Explanation`; its image, if any, is shown with each
            target's heatmap laid over it (`format_as_image`'s defaults).
        target_names: as in `format_targets_as_image`.

    Returns:
        An HTML fragment (a string) with every picture embedded as a base64
        PNG (`<img src="data:image/png;base64,...">`), the captions as text
        and the explanation's `error`, if any; all text is escaped.
    """
    check_explanation(expl)
    check_target_names(target_names)
    parts = ['<div class="camlens-explanation">']
    header = " ".join(
        html.escape(str(text))
        for text in (expl.method, expl.estimator, expl.layer and f"(layer {expl.layer})")
        if text
    )
    if header:
        parts.append(f"<p><b>{header}</b></p>")
    if expl.description:
        parts.append(f"<p>{html.escape(str(expl.description))}</p>")
    if expl.error:
        parts.append(
            f'<p class="camlens-error" style="color:#b00">{html.escape(str(expl.error))}</p>'
        )
    if expl.image is not None:
        pictures = target_pictures(expl, {})
        captions = [caption_lines(t, target_names) for t in expl.targets] or [[]]
        parts.append('<div style="display:flex;flex-wrap:wrap;gap:8px">')
        for picture, lines in zip(pictures, captions):
            parts.append(_html_figure(picture, lines))
        parts.append("</div>")
    parts.append("</div>")
    return "\n".join(parts)


def _html_figure(picture, lines):
    """An HTML `<figure>` with the picture as a base64 PNG and a caption."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    caption = " ".join(html.escape(line) for line in lines)
    figcaption = (
        "<figcaption>" + "<br>".join(html.escape(line) for line in lines) + "</figcaption>"
        if lines
        else ""
    )
    return (
        '<figure style="margin:0;text-align:center">'
        f'<img src="data:image/png;base64,{data}" alt="{caption}" '
        f'width="{picture.width}" height="{picture.height}">'
        f"{figcaption}</figure>"
    )
