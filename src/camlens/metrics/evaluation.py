"""Evaluating methods with every metric: what `camlens evaluate` prints.

For each method: pointing game and energy-based pointing game (when object
masks are known), deletion and insertion AUC, average drop and increase in
confidence, ROAD (combined), sparseness, complexity, max-sensitivity, the
randomization check, and the time per image. A row for random heatmaps gives the
chance level of each number (max-sensitivity and the randomization check excepted:
random maps have no model to be sensitive to).

A method named `refinecam(<method>)` is RefineCAM over `layers=`: `<method>`'s
maps at each of those layers multiplied (`combine="product"`), evaluated with
every metric beside the single-layer methods (which take `layer=`); its
randomization check re-initialises every layer after the first of `layers`.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..api.batch import explain_batch
from ..api.explainer import Explainer
from ..methods import class_methods, get_method
from ..methods.fusion import PRODUCT
from .complexity import complexity, sparseness
from .faithfulness import average_drop_increase, deletion, insertion
from .localization import energy_pointing_game, pointing_game
from .road import FRACTIONS, road
from .robustness import max_sensitivity
from .sanity import randomization_check

RANDOM = "random"
"""The pseudo-method of uniformly random heatmaps, the chance level."""

REFINECAM = "refinecam"
"""`refinecam(<method>)`: RefineCAM of `<method>` over `evaluate`'s `layers=`."""


@dataclass
class MethodScores:
    """The metrics of one method over the evaluated images (means)."""

    method: str
    pointing_game: float | None
    energy_pointing_game: float | None
    deletion_auc: float
    insertion_auc: float
    average_drop: float
    increase_in_confidence: float
    road: float
    sparseness: float
    complexity: float
    max_sensitivity: float | None
    randomization_correlation: float | None
    randomization_passed: bool | None
    seconds_per_image: float


@dataclass
class Evaluation:
    """Scores per method, and the curves behind the AUCs and ROAD (for plotting)."""

    rows: list[MethodScores]
    deletion_curves: dict
    insertion_curves: dict
    road_scores: dict


def evaluate(
    model,
    images: np.ndarray,
    methods=None,
    targets: np.ndarray | None = None,
    masks: np.ndarray | None = None,
    layer=None,
    layers=None,
    steps: int = 16,
    baseline: str = "blur",
    randomization_images: int = 8,
    seed: int = 0,
    road_fractions=FRACTIONS,
    sensitivity_samples: int = 4,
) -> Evaluation:
    """Score each method (and random maps) on `images` with every metric.

    Args:
        model: a Keras model with a (batch, classes) output.
        images: (N, H, W, C) inputs.
        methods: method names, as for `Explainer`; `None` for every registered
            method (users' own included). `"refinecam(gradcam++)"` (any
            method in the brackets) is RefineCAM over `layers`.
        targets: (N,) class ids to explain; the predictions when `None`.
        masks: (N, H, W) bool object masks; localization is skipped without them.
        layer: the layer the single-layer methods explain, as for `Explainer`.
        layers: the layers RefineCAM's rows combine, as `Explainer`'s `layers=`;
            needed by them, and only by them.
        steps, baseline: of the deletion and insertion curves.
        randomization_images: images used by the randomization check.
        seed: seed of the random heatmaps, the randomization, ROAD's noise and
            max-sensitivity's perturbations.
        road_fractions: the shares of pixels ROAD removes.
        sensitivity_samples: perturbations per image of max-sensitivity.
    """
    methods = class_methods() if methods is None else list(methods)
    options = check_methods(methods, layer, layers)
    if targets is None:
        targets = np.argmax(np.asarray(model.predict(images, verbose=0)), axis=-1)
    targets = np.asarray(targets)
    rows, deletions, insertions, roads = [], {}, {}, {}
    for name in list(methods) + [RANDOM]:
        start = time.perf_counter()
        heatmaps = _heatmaps(model, images, targets, options.get(name), layer, seed)
        seconds = (time.perf_counter() - start) / len(images)
        deletions[name] = deletion(model, images, heatmaps, targets, baseline, steps)
        insertions[name] = insertion(model, images, heatmaps, targets, baseline, steps)
        drop, increase = average_drop_increase(model, images, heatmaps, targets)
        roads[name] = road(model, images, heatmaps, targets, road_fractions, seed=seed)
        check = sensitivity = None
        if name != RANDOM:
            check = randomization_check(
                model, images[:randomization_images], seed=seed, **options[name]
            )
            explainer = Explainer(model, **options[name])
            sensitivity = float(
                np.nanmean(
                    max_sensitivity(
                        explainer, images, targets, samples=sensitivity_samples, seed=seed
                    )
                )
            )
        rows.append(
            MethodScores(
                method=name,
                pointing_game=None
                if masks is None
                else float(pointing_game(heatmaps, masks).mean()),
                energy_pointing_game=None
                if masks is None
                else float(energy_pointing_game(heatmaps, masks).mean()),
                deletion_auc=float(deletions[name].auc.mean()),
                insertion_auc=float(insertions[name].auc.mean()),
                average_drop=drop,
                increase_in_confidence=increase,
                road=float(roads[name].combined.mean()),
                sparseness=float(np.nanmean(sparseness(heatmaps))),
                complexity=float(np.nanmean(complexity(heatmaps))),
                max_sensitivity=sensitivity,
                randomization_correlation=None
                if check is None
                else float(np.mean(np.abs(check.correlations))),
                randomization_passed=None if check is None else check.passed,
                seconds_per_image=seconds,
            )
        )
    return Evaluation(rows, deletions, insertions, roads)


def check_methods(methods, layer, layers) -> dict[str, dict]:
    """Each method's `Explainer` options (method, layer or layers, combine), by name.

    Raises:
        ValueError: an unknown method (`get_method`'s error), a RefineCAM row
            without `layers`, or `layers` without a RefineCAM row.
    """
    options = {}
    for name in methods:
        base = _refined(name)
        if base is None:
            get_method(name)
            options[name] = {"method": name, "layer": layer}
            continue
        get_method(base)
        if layers is None:
            raise ValueError(
                f"{name} combines the maps of several layers: pass them as layers=[...]. "
                f"Received: layers=None"
            )
        options[name] = {"method": base, "layers": layers, "combine": PRODUCT}
    if layers is not None and not any(_refined(name) for name in methods):
        raise ValueError(
            f"layers= is for RefineCAM's rows, methods named {REFINECAM}(<method>); the "
            f"other methods take layer=. Received: layers={layers!r} with methods={methods!r}"
        )
    return options


def format_table(evaluation: Evaluation) -> str:
    """The rows as a markdown table."""
    headers = [
        "method",
        "pointing",
        "energy",
        "deletion AUC (lower)",
        "insertion AUC (higher)",
        "avg drop % (lower)",
        "increase % (higher)",
        "ROAD (higher)",
        "sparseness (higher)",
        "complexity (lower)",
        "max-sensitivity (lower)",
        "randomization rank corr.",
        "s / image",
    ]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in evaluation.rows:
        check = (
            "-"
            if row.randomization_passed is None
            else f"{row.randomization_correlation:.2f} "
            f"({'pass' if row.randomization_passed else 'FAIL'})"
        )
        cells = [
            row.method,
            _number(row.pointing_game),
            _number(row.energy_pointing_game),
            _number(row.deletion_auc),
            _number(row.insertion_auc),
            f"{row.average_drop:.1f}",
            f"{row.increase_in_confidence:.1f}",
            _number(row.road),
            _number(row.sparseness),
            _number(row.complexity),
            _number(row.max_sensitivity),
            check,
            f"{row.seconds_per_image:.4f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(evaluation: Evaluation, stream) -> None:
    """The rows as CSV, one column per `MethodScores` field."""
    writer = csv.DictWriter(stream, fieldnames=[f.name for f in fields(MethodScores)])
    writer.writeheader()
    for row in evaluation.rows:
        writer.writerow(asdict(row))


def plot_curves(evaluation: Evaluation):
    """A matplotlib figure: deletion, insertion and ROAD curves, one line per method
    (ROAD: most relevant first solid, least relevant first dashed)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15, 4), dpi=100)
    deletion_axis, insertion_axis, road_axis = figure.subplots(1, 3)
    for axis, (title, curves) in zip(
        (deletion_axis, insertion_axis),
        (("deletion", evaluation.deletion_curves), ("insertion", evaluation.insertion_curves)),
    ):
        for name, curve in curves.items():
            style = ":" if name == RANDOM else "-"
            axis.plot(
                curve.fractions,
                curve.scores.mean(axis=0),
                style,
                label=f"{name} (AUC {curve.auc.mean():.3f})",
            )
        axis.set_title(f"{title} curves (mean over images)")
        axis.set_xlabel(f"share of pixels {'removed' if title == 'deletion' else 'inserted'}")
        axis.set_ylabel("score of the explained class")
        axis.legend(fontsize=7)
    for name, scores in evaluation.road_scores.items():
        (line,) = road_axis.plot(
            scores.fractions,
            scores.most_relevant_first.mean(axis=0),
            ":" if name == RANDOM else "-",
            label=f"{name} (ROAD {scores.combined.mean():.3f})",
        )
        road_axis.plot(
            scores.fractions, scores.least_relevant_first.mean(axis=0), "--", color=line.get_color()
        )
    road_axis.set_title("ROAD: MoRF (solid), LeRF (dashed)")
    road_axis.set_xlabel("share of pixels imputed")
    road_axis.set_ylabel("change of the explained class's score")
    road_axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def _heatmaps(model, images, targets, options, layer, seed) -> np.ndarray:
    if options is None:  # random maps at the single-layer methods' grid
        explainer = Explainer(model, layer=layer)
        shape = explainer(images[:1]).heatmaps.shape[2:]
        return np.random.default_rng(seed).uniform(size=(len(images),) + shape)
    return explain_batch(model, images, targets=targets, **options).heatmaps[:, 0]


def _refined(name) -> str | None:
    """The method in the brackets of `refinecam(<method>)`; `None` for another name."""
    if not isinstance(name, str):
        return None
    text = name.strip().lower()
    if text.startswith(f"{REFINECAM}(") and text.endswith(")"):
        return text[len(REFINECAM) + 1 : -1].strip()
    if text == REFINECAM:
        raise ValueError(
            f"{REFINECAM} refines another method's maps: name it, e.g. "
            f"methods=['{REFINECAM}(gradcam++)'] as pytorch-grad-cam's RefineCAM. "
            f"Received: {name!r}"
        )
    return None


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}"
