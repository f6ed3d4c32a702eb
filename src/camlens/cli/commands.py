"""What each command does: `camlens demo`, `explain`, `evaluate`, `audit`.

The library does the work; a command loads what its arguments name, calls the
library, writes the files (whole or not at all, their folders created) and
prints what it wrote. Heavy modules are imported inside the commands, after the
backend's start-up logs are held (`quiet`).
"""

from __future__ import annotations

import importlib
import io
import sys
from pathlib import Path

import numpy as np

from ..files.writing import check_png_path, write_atomically, write_png

EXIT_INTERRUPTED = 130
OUT_SUFFIX = "-camlens.png"


class UsageError(Exception):
    """A problem with what the user asked for, reported as one line, exit 2."""


def import_plugins(modules: list[str]) -> None:
    """Import the `--plugin` modules (they may register methods)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise UsageError(f"--plugin {name} could not be imported: {error}") from error


def run_demo(args) -> int:
    if args.shortcut is not None:
        return _shortcut_demo(args.shortcut)
    if args.folder is not None:
        from ..demo import write_folder

        write_folder(args.folder, args.count, seed=args.seed)
        print(
            f"wrote {args.count} images, masks, labels.csv and demo_model.keras into {args.folder}"
        )
        return 0
    if args.imagenet:
        from ..models import imagenet_demo_picture

        picture = imagenet_demo_picture(method=args.method)
    else:
        from ..demo.picture import demo_picture

        picture = demo_picture(count=args.count, seed=args.seed, method=args.method)
    write_png(picture, args.out)
    print(f"wrote {args.out}")
    return 0


def _shortcut_demo(folder: Path) -> int:
    """`camlens demo --shortcut DIR`: train on badged shapes, audit, say what it found."""
    from ..audit import audit
    from ..audit.concept_results import read_concepts
    from ..demo import CLASS_NAMES, IMAGE_SIZE
    from ..demo.shortcut import BADGE, SHORTCUT_CLASS, write_shortcut

    name = CLASS_NAMES[SHORTCUT_CLASS]
    print(f"training a small CNN on shapes where most '{name}' images carry a corner badge...")
    demo = write_shortcut(folder)
    print(
        f"wrote {demo.model}; held-out accuracy: '{name}' with the badge "
        f"{demo.accuracy_marked:.0%}, without it {demo.accuracy_unmarked:.0%}; "
        f"the other classes {demo.accuracy_others:.0%}"
    )
    summary = audit(
        demo.model,
        demo.held_out,
        folder / "audit",
        target="label",
        concepts=3,
        class_names=list(CLASS_NAMES),
    )
    learned = read_concepts(summary.out_dir)
    assert learned is not None, "the audit learned concepts"
    concepts = learned[1][SHORTCUT_CLASS]
    grid = concepts.mean_maps.shape[1:]
    for rank, (share, mean) in enumerate(zip(concepts.share, concepts.mean_maps), 1):
        peak = np.unravel_index(np.argmax(mean), grid)
        on_badge = max(peak) * IMAGE_SIZE // grid[0] <= BADGE  # the cell starts on the badge
        where = "the top-left corner, where the badge is" if on_badge else "elsewhere"
        print(
            f"'{name}' concept {rank}: {share:.0%} of the class score; its mean map peaks "
            f"at cell {tuple(int(p) for p in peak)} of {grid[0]}x{grid[1]} ({where})"
        )
    print(summary.line())
    return 0


def run_explain(args) -> int:
    from ..api.explainer import Explainer
    from ..files.images import load_image
    from ..files.models import load_explained_model
    from ..methods import class_methods

    outs = output_paths(args.images, args.out, args.out_dir)
    model, to_doc = load_explained_model(args.model, unsafe=args.unsafe, size=args.size)
    originals = [load_image(path) for path in args.images]  # every file checked first
    names = class_methods() if args.method is None else args.method
    explainers = [Explainer(model, layer=args.layer, method=name) for name in names]
    for path, original, out in zip(args.images, originals, outs):
        doc = to_doc(original)
        targets = targets_of(args.target, args.box, args.iou, doc, original, args.box_score)
        picture, lines = explain_pictures(explainers, doc, original, targets)
        write_png(picture, out)
        for line in lines:
            print(f"{path}: {line}")
        print(f"wrote {out}")
    return 0


def run_evaluate(args) -> int:
    from ..methods import class_methods
    from ..metrics.evaluation import check_methods, evaluate, format_table, plot_curves, write_csv

    methods = class_methods() if args.methods is None else args.methods
    check_methods(methods, args.layer, args.layers)
    for path in (args.csv, args.plot):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    model, images, targets, masks = _evaluation_data(args)
    result = evaluate(
        model,
        images,
        methods=methods,
        targets=targets,
        masks=masks,
        layer=args.layer,
        layers=args.layers,
        steps=args.steps,
        baseline=args.baseline,
        seed=args.seed,
    )
    print(format_table(result))
    if args.csv is not None:
        text = io.StringIO()
        write_csv(result, text)
        write_atomically(args.csv, text.getvalue().encode())
        print(f"wrote {args.csv}")
    if args.plot is not None:
        buffer = io.BytesIO()
        plot_curves(result).savefig(buffer, format="png")
        write_atomically(args.plot, buffer.getvalue())
        print(f"wrote {args.plot}")
    return 0


def run_audit(args) -> int:
    from ..audit import audit
    from ..methods import class_methods

    names = None if args.class_names is None else [n.strip() for n in args.class_names.split(",")]
    try:
        summary = audit(
            args.model,
            args.data,
            args.out,
            methods=class_methods() if args.methods is None else args.methods,
            target=args.target,
            layer=args.layer,
            metrics=_metric_names(args.metrics),
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            overlays=args.overlays,
            report=not args.no_report,
            class_names=names,
            size=args.size,
            engine=args.engine,
            concurrency=args.concurrency,
            ray_address=args.ray_address,
            workers=args.workers,
            unsafe=args.unsafe,
            concepts=args.concepts or 0,
            image_column=args.image_column,
            label_column=args.label_column,
        )
    except KeyboardInterrupt:
        print(
            f"camlens audit: interrupted; the finished shards are kept in {args.out}: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(summary.line())
    return 0


def _metric_names(text: str | None):
    """`--metrics`: absent, 'all', or comma-separated names (checked by the audit)."""
    if text is None:
        return False
    if text.strip().lower() == "all":
        return True
    return [name.strip() for name in text.split(",") if name.strip()]


def output_paths(images: list[Path], out: Path | None, out_dir: Path | None) -> list[Path]:
    """Where each image's picture goes: `--out`, `--out-dir/NAME-camlens.png`
    (the folder created), or beside the image."""
    if out is not None and out_dir is not None:
        raise UsageError("give --out or --out-dir, not both")
    if out is not None:
        if len(images) > 1:
            raise UsageError(f"--out names one file; for {len(images)} images use --out-dir DIR")
        return [check_png_path(out)]
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"--out-dir must be a folder. Received: {out_dir}")
        out_dir.mkdir(parents=True, exist_ok=True)
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


def targets_of(
    target: int | None, box, iou: float, doc, original, score: str = "logit"
) -> list | None:
    """`--target`, `--box`, `--iou` and `--box-score` as targets; the box, in the
    image's pixels, scaled to the model's input (`doc`, the image resized or
    preprocessed)."""
    if box is None:
        return None if target is None else [target]
    from ..targets import Box

    scale_y, scale_x = doc.shape[1] / original.height, doc.shape[2] / original.width
    top, left, bottom, right = box
    scaled = [top * scale_y, left * scale_x, bottom * scale_y, right * scale_x]
    return [Box(scaled, class_id=target, iou=iou, score=score)]


def explain_pictures(explainers: list, doc, original, targets) -> tuple:
    """The picture of one image: its overlay, or one captioned panel per explainer.

    The explainers share one probe pass per score kind (`explain_together`).

    Args:
        explainers: `Explainer`s of the same model, one per method.
        doc: (1, H, W, C) the model's input for `original`.
        original: the PIL image as loaded; the maps are drawn over it at its own size.
        targets: as for `Explainer`.

    Returns:
        `(PIL image, lines)`: one line per explainer (class, score, layer,
        method); for a detector, one line and one panel per detection.
    """
    from ..api.many_methods import explain_together
    from ..api.prediction import explanation_from_maps
    from ..files.images import convert_image
    from ..formatters import compose_panels, format_as_image, format_targets_as_image

    picture = convert_image(original, "RGB")
    maps = explain_together(explainers, explainers[0].prepare(doc), targets)
    explanations = [
        explanation_from_maps(explainer, each, 0, picture, targets)
        for explainer, each in zip(explainers, maps)
    ]
    if explanations[0].input_size is not None:  # a detector's: a panel per detection
        return _detection_pictures(explanations)
    lines = [
        f"class {e.targets[0].target} score {e.targets[0].score:.4f} layer {e.layer} "
        f"method {e.method}"
        for e in explanations
    ]
    if len(explanations) == 1:
        return format_as_image(explanations[0]), lines
    panels = [format_targets_as_image(e) for e in explanations]
    return compose_panels(panels, [[e.method] for e in explanations]), lines


def _detection_pictures(explanations: list) -> tuple:
    """A detector's picture: per method, one panel per detection with its box."""
    from ..formatters import compose_panels, format_targets_as_image

    lines = []
    for e in explanations:
        lines += [
            f"detection {k}: class {t.target} confidence {t.proba:.4f} box "
            f"{[round(float(v), 1) for v in t.box]} layer {e.layer} method {e.method}"
            for k, t in enumerate(e.targets)
        ]
        if not e.targets:
            lines.append(f"no detection (method {e.method})")
    panels = [format_targets_as_image(e) for e in explanations]
    if len(panels) == 1:
        return panels[0], lines
    return compose_panels(panels, [[e.method] for e in explanations]), lines


def _evaluation_data(args):
    """(model, images, targets, masks) for `camlens evaluate`."""
    if args.model is None:
        from ..demo import load_demo_model, make_dataset
        from ..metrics import boxes_to_masks

        data = make_dataset(args.count, seed=args.seed)
        boxes = boxes_to_masks(data.boxes, data.masks.shape[1:])  # as the pointing games use
        return load_demo_model(), data.images, data.labels, boxes
    from ..files.images import image_to_doc, load_image
    from ..files.models import load_model

    if args.images is None or not args.images.is_dir():
        raise UsageError(f"--images must be a folder of images. Received: {args.images}")
    model = load_model(args.model, unsafe=args.unsafe)
    files = sorted(p for p in args.images.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise UsageError(f"--images holds no file. Received: {args.images}")
    images = np.concatenate([image_to_doc(load_image(path), model) for path in files])
    return model, images, None, None
