"""Draw explanations as pictures: heatmaps laid over the input.

Two tiers, the lower knowing nothing of the upper:

- arrays: `draw` (the ELI5-compatible overlay of a heatmap on an image, and
  its colours), `compose` (captioned panels in a grid), `signal` (a 1-D input
  with its map as a band beneath it), `volume` (a 3-D input as a montage of
  slices); signed maps in [-1, 1] are drawn with a diverging colormap.
- explanations: `explanation` (`format_as_image`, `format_targets_as_image`),
  `html` (the same panels as an HTML fragment, for notebooks).

The package is backend-free: it needs only numpy, Pillow and matplotlib's
colormaps (never `matplotlib.pyplot`, so no display is needed).
"""

from .compose import compose_panels, image_and_overlay, overlay_panels
from .draw import expand_heatmap, heatmap_to_image, overlay
from .explanation import format_as_image, format_targets_as_image
from .html import explanation_to_html
from .signal import signal_with_heatmap
from .volume import slice_montage

__all__ = [
    "compose_panels",
    "expand_heatmap",
    "explanation_to_html",
    "format_as_image",
    "format_targets_as_image",
    "heatmap_to_image",
    "image_and_overlay",
    "overlay",
    "overlay_panels",
    "signal_with_heatmap",
    "slice_montage",
]
