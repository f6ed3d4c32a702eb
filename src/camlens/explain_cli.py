"""What `camlens explain MODEL IMAGE...` does: one model, its explainers, a picture per image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image

from .cli import UsageError
from .files import check_png_path, convert_image
from .explain import explanation_from_maps
from .formatters import compose_panels, format_as_image, format_targets_as_image

OUT_SUFFIX = "-camlens.png"


def output_paths(images: list[Path], out: Path | None, out_dir: Path | None) -> list[Path]:
    """Where each image's picture goes: `--out`, `--out-dir/NAME-camlens.png`, or beside it."""
    if out is not None and out_dir is not None:
        raise UsageError("give --out or --out-dir, not both")
    if out is not None:
        if len(images) > 1:
            raise UsageError(
                f"--out names one file; for {len(images)} images use --out-dir DIR"
            )
        return [check_png_path(out)]
    if out_dir is not None and not out_dir.is_dir():
        raise UsageError(f"--out-dir must be an existing folder. Received: {out_dir}")
    paths = [
        (out_dir if out_dir is not None else image.parent) / f"{image.stem}{OUT_SUFFIX}"
        for image in images
    ]
    seen: dict[Path, Path] = {}
    for image, path in zip(images, paths):
        if path in seen:
            raise UsageError(
                f"{seen[path]} and {image} would both be written to {path}; "
                "rename one or explain them separately"
            )
        seen[path] = image
    return paths


def load_explained_model(path: Path, unsafe: bool = False,
                         size: tuple[int, int] | None = None) -> tuple[object, Callable]:
    """`(model, to_doc)`: a model file or a keras-hub preset folder, and its image-to-input map.

    A keras-hub task keeps its preprocessor (resizing, scaling) out of its graph:
    `to_doc` applies it to the image at its own size, or at `size` (height,
    width) when given. Other models get the image resized to their input size
    (or to `size`, for inputs with `None` spatial dimensions).
    """
    from .files import load_model
    from .presets import load_preset

    if not Path(path).is_dir():
        _register_keras_hub()
        model = load_model(path, unsafe=unsafe)
        return model, image_input(model, size)
    model, preprocess = load_preset(path)
    return model, _resized_first(preprocess, size)


def image_input(model, size: tuple[int, int] | None = None) -> Callable:
    """`to_doc(image)`: a PIL image to the (1, H, W, C) float32 input of a loaded model.

    A model with a callable `preprocessor` (a keras-hub task) gets it applied to
    the image at its own size, or resized to `size` (height, width) first; any
    other model gets the image resized to its input size (or to `size`).
    """
    from .files import image_to_doc
    from .presets import preprocessor_of

    if not callable(getattr(model, "preprocessor", None)):
        return lambda image: image_to_doc(image, model, size=size)
    return _resized_first(preprocessor_of(model), size)


def explain_pictures(explainers: list, doc, original: Image.Image, targets) -> tuple:
    """The picture of one image: its overlay, or one captioned panel per explainer.

    The explainers share one probe pass per score kind (`compare.explain_together`).

    Args:
        explainers: `Explainer`s of the same model, one per method.
        doc: (1, H, W, C) the model's input for `original`.
        original: the image as loaded; the maps are drawn over it at its own size.
        targets: as for `Explainer`.

    Returns:
        `(PIL image, lines)`: one line per explainer (class, score, layer, method).
    """
    from .compare import explain_together

    picture = convert_image(original, "RGB")
    maps = explain_together(explainers, explainers[0]._prepare(doc), targets)
    explanations = [
        explanation_from_maps(explainer, each, 0, picture, targets)
        for explainer, each in zip(explainers, maps)
    ]
    lines = [
        f"class {e.targets[0].target} score {e.targets[0].score:.4f} layer {e.layer} "
        f"method {e.method}"
        for e in explanations
    ]
    if len(explanations) == 1:
        return format_as_image(explanations[0]), lines
    panels = [format_targets_as_image(e) for e in explanations]
    return compose_panels(panels, [[e.method] for e in explanations]), lines


def _resized_first(preprocess: Callable, size: tuple[int, int] | None) -> Callable:
    if size is None:
        return preprocess
    return lambda image: preprocess(image.resize((size[1], size[0]), Image.BILINEAR))


def _register_keras_hub() -> None:
    """Import keras-hub when installed, so that files saved from its models load."""
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        pass
