"""A deterministic synthetic data set: one coloured shape on a cluttered background.

Each image holds exactly one object of a known class, and the generator also
returns the object's pixel mask and bounding box, so that an explanation's
heatmap can be checked against where the object really is.

Only numpy and Pillow are used; nothing here imports Keras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "star")
"""The class names, indexed by label."""

IMAGE_SIZE = 64
"""Height and width of the images, in pixels.

64 is small enough to train a CNN on a CPU in minutes, and large enough that a
16x16 feature map (stride 4) still localises an object of 18 to 32 pixels.
"""

# Object radius range (the shape fits in a circle of this radius), in pixels.
_MIN_RADIUS = 9.0
_MAX_RADIUS = 16.0
# Shapes are drawn at this multiple of the image size, then averaged down, which
# gives anti-aliased edges.
_SUPERSAMPLE = 4
# Smallest Euclidean RGB distance between the object colour and the background
# it is drawn on.
_MIN_CONTRAST = 110.0


@dataclass(frozen=True)
class ShapesDataset:
    """Images with one labelled object each, and where that object is.

    Attributes:
        images: float32 array of shape `(n, IMAGE_SIZE, IMAGE_SIZE, 3)`, RGB
            values in `[0, 255]` (whole numbers).
        labels: int64 array of shape `(n,)`, indices into `CLASS_NAMES`.
        masks: bool array of shape `(n, IMAGE_SIZE, IMAGE_SIZE)`, True on the
            object's pixels.
        boxes: int64 array of shape `(n, 4)`, the object's bounding box as
            `(top, left, bottom, right)`, with `bottom` and `right` exclusive
            (so `masks[i, top:bottom, left:right]` holds every True pixel).
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def make_dataset(n: int, seed: int = 0, sizes: dict[int, float] | None = None) -> ShapesDataset:
    """Generates `n` images, each with one shape of a random class.

    The output depends only on `n`, `seed` and `sizes`; the first `k` images of
    `make_dataset(n, seed)` are those of `make_dataset(k, seed)`.

    Args:
        n: number of images.
        seed: seed of the random generator.
        sizes: per class id, a factor in (0, 1] on its shapes' radius (default 1).

    Returns:
        A `ShapesDataset` with `images` `(n, 64, 64, 3)`, `labels` `(n,)`,
        `masks` `(n, 64, 64)` and `boxes` `(n, 4)`.
    """
    if n < 0:
        raise ValueError(f"`n` must be >= 0, got {n}")
    sizes = {} if sizes is None else dict(sizes)
    if any(not 0 < factor <= 1 for factor in sizes.values()):
        raise ValueError(f"sizes must be factors in (0, 1]. Received: sizes={sizes}")
    rng = np.random.default_rng(seed)
    size = IMAGE_SIZE
    images = np.empty((n, size, size, 3), dtype=np.float32)
    labels = np.empty((n,), dtype=np.int64)
    masks = np.empty((n, size, size), dtype=bool)
    boxes = np.empty((n, 4), dtype=np.int64)
    for i in range(n):
        label = int(rng.integers(len(CLASS_NAMES)))
        image, mask = _make_image(rng, label, sizes.get(label, 1.0))
        images[i] = image
        labels[i] = label
        masks[i] = mask
        boxes[i] = _box_of(mask)
    return ShapesDataset(images=images, labels=labels, masks=masks, boxes=boxes)


def _make_image(
    rng: np.random.Generator, label: int, size_factor: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Returns one image (float32 `(H, W, 3)`) and its object mask (bool `(H, W)`)."""
    size = IMAGE_SIZE
    background = _background(rng)
    canvas = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8), "RGB")
    _draw_clutter(rng, canvas)
    image = np.asarray(canvas, dtype=np.float32)

    radius = rng.uniform(_MIN_RADIUS, _MAX_RADIUS) * size_factor
    margin = radius + 1.0
    center = rng.uniform(margin, size - margin, size=2)  # (x, y)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    alpha = _shape_alpha(CLASS_NAMES[label], center, radius, angle)
    mask = alpha >= 0.5

    # Pick an object colour that stands out from the background under it.
    under = image[mask].mean(axis=0)
    color = rng.uniform(0, 255, size=3)
    for _ in range(50):
        if np.linalg.norm(color - under) >= _MIN_CONTRAST:
            break
        color = rng.uniform(0, 255, size=3)
    # A mild shading across the object, so it is not one flat colour.
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    shade_dir = rng.normal(size=2)
    shade_dir /= np.linalg.norm(shade_dir) + 1e-8
    shade = ((xx - center[0]) * shade_dir[0] + (yy - center[1]) * shade_dir[1]) / radius
    shade_strength = rng.uniform(0.0, 25.0)
    fill = color[None, None, :] + shade_strength * shade[..., None]

    a = alpha[..., None]
    image = image * (1.0 - a) + fill * a
    image += rng.normal(0.0, rng.uniform(2.0, 10.0), size=image.shape)
    image = np.round(np.clip(image, 0.0, 255.0)).astype(np.float32)
    return image, mask


def _background(rng: np.random.Generator) -> np.ndarray:
    """A smooth random background: a colour gradient plus low-frequency noise."""
    size = IMAGE_SIZE
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    theta = rng.uniform(0.0, 2.0 * math.pi)
    t = np.cos(theta) * xx + np.sin(theta) * yy
    t = (t - t.min()) / (t.max() - t.min() + 1e-8)
    c0 = rng.uniform(0, 255, size=3)
    c1 = rng.uniform(0, 255, size=3)
    gradient = c0 + (c1 - c0) * t[..., None]

    # Low-frequency noise: a coarse random grid, bilinearly enlarged.
    cells = int(rng.integers(3, 7))
    coarse = rng.normal(0.0, rng.uniform(10.0, 35.0), size=(cells, cells, 3))
    noise = _bilinear_resize(coarse, size)
    return gradient + noise


def _bilinear_resize(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinearly resizes a `(h, w, c)` array to `(size, size, c)`."""
    h, w = grid.shape[:2]
    ys = np.linspace(0.0, h - 1.0, size)
    xs = np.linspace(0.0, w - 1.0, size)
    y0 = np.floor(ys).astype(int).clip(0, h - 2)
    x0 = np.floor(xs).astype(int).clip(0, w - 2)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    g00 = grid[y0][:, x0]
    g01 = grid[y0][:, x0 + 1]
    g10 = grid[y0 + 1][:, x0]
    g11 = grid[y0 + 1][:, x0 + 1]
    top = g00 * (1 - fx) + g01 * fx
    bottom = g10 * (1 - fx) + g11 * fx
    return top * (1 - fy) + bottom * fy


def _random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = rng.integers(0, 256, size=3)
    return int(r), int(g), int(b)


def _draw_clutter(rng: np.random.Generator, canvas: Image.Image) -> None:
    """Draws distractors that are none of the classes: thin lines, small blobs, arcs."""
    size = IMAGE_SIZE
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(2, 7))):  # thin straight lines
        x0, y0, x1, y1 = rng.uniform(-8, size + 8, size=4)
        draw.line([(x0, y0), (x1, y1)], fill=_random_color(rng), width=1)
    for _ in range(int(rng.integers(0, 4))):  # short thicker strokes
        x0, y0 = rng.uniform(0, size, size=2)
        length = rng.uniform(4, 12)
        phi = rng.uniform(0, 2 * math.pi)
        x1, y1 = x0 + length * math.cos(phi), y0 + length * math.sin(phi)
        draw.line([(x0, y0), (x1, y1)], fill=_random_color(rng), width=2)
    for _ in range(int(rng.integers(2, 8))):  # small blobs (too small to be a circle)
        cx, cy = rng.uniform(0, size, size=2)
        rx, ry = rng.uniform(0.8, 2.5, size=2)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=_random_color(rng))
    for _ in range(int(rng.integers(0, 3))):  # open arcs (outlines, not filled)
        cx, cy = rng.uniform(0, size, size=2)
        r = rng.uniform(4, 10)
        start = rng.uniform(0, 360)
        extent = rng.uniform(60, 200)
        draw.arc(
            [cx - r, cy - r, cx + r, cy + r],
            start,
            start + extent,
            fill=_random_color(rng),
            width=1,
        )


def _shape_polygon(name: str, radius: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of a shape centred on the origin, fitting in a circle of `radius`."""
    if name == "square":
        base = [(k * math.pi / 2 + math.pi / 4, radius) for k in range(4)]
    elif name == "triangle":
        base = [(k * 2 * math.pi / 3 - math.pi / 2, radius) for k in range(3)]
    elif name == "star":
        inner = 0.45 * radius
        base = [(k * math.pi / 5 - math.pi / 2, radius if k % 2 == 0 else inner) for k in range(10)]
    elif name == "cross":
        half_width = 0.3 * radius
        arm = math.sqrt(radius**2 - half_width**2)
        corners = [
            (arm, half_width),
            (half_width, half_width),
            (half_width, arm),
            (-half_width, arm),
            (-half_width, half_width),
            (-arm, half_width),
            (-arm, -half_width),
            (-half_width, -half_width),
            (-half_width, -arm),
            (half_width, -arm),
            (half_width, -half_width),
            (arm, -half_width),
        ]
        base = [(math.atan2(y, x), math.hypot(x, y)) for x, y in corners]
    else:
        raise ValueError(f"Unknown shape {name!r}")
    return [(r * math.cos(phi + angle), r * math.sin(phi + angle)) for phi, r in base]


def _shape_alpha(name: str, center: np.ndarray, radius: float, angle: float) -> np.ndarray:
    """Anti-aliased coverage in `[0, 1]`, float32 `(H, W)`, of one shape."""
    size = IMAGE_SIZE
    s = _SUPERSAMPLE
    big = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(big)
    cx, cy = float(center[0]) * s, float(center[1]) * s
    if name == "circle":
        r = radius * s
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        points = [(cx + x * s, cy + y * s) for x, y in _shape_polygon(name, radius, angle)]
        draw.polygon(points, fill=255)
    hi = np.asarray(big, dtype=np.float32) / 255.0
    return hi.reshape(size, s, size, s).mean(axis=(1, 3))


def _box_of(mask: np.ndarray) -> np.ndarray:
    """`(top, left, bottom, right)` of a non-empty bool mask, bottom/right exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1], dtype=np.int64)
