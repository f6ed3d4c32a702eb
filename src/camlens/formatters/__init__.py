"""Draw explanations as pictures: heatmaps laid over the input image.

- `overlay`: the ELI5-compatible overlay (`format_as_image` and its helpers),
  and `overlay()` itself for plain arrays; signed maps in [-1, 1] are drawn with
  a diverging colormap.
- `panels`: camlens's captioned panels, one per target or per image.
- `signal`: a 1-D input's signal with its map as a band beneath it.
- `volume`: a 3-D input as a montage of slices, each with its map laid over it.
- `html`: the same panels as an HTML fragment, for notebooks.

The package is backend-free: it needs only numpy, Pillow and matplotlib's
colormaps (never `matplotlib.pyplot`, so no display is needed).
"""

from .html import explanation_to_html
from .overlay import expand_heatmap, format_as_image, heatmap_to_image, overlay
from .panels import compose_panels, format_targets_as_image, image_and_overlay
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
    "signal_with_heatmap",
    "slice_montage",
]
