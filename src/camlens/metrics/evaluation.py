"""Evaluating methods with every metric: what `camlens evaluate` prints.

For each method: pointing game and energy-based pointing game (when object
masks are known), deletion and insertion AUC, average drop and increase in
confidence, ROAD (combined), sparseness, complexity, max-sensitivity, the
randomization check, and the time per image. A row for random heatmaps gives the
chance level of each number (max-sensitivity and the randomization check excepted:
random maps have no model to be sensitive to).
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..api.batch import explain_batch
from ..api.explainer import Explainer
from ..methods import class_methods
from .complexity import complexity, sparseness
from .faithfulness import average_drop_increase, deletion, insertion
from .localization import energy_pointing_game, pointing_game
from .road import FRACTIONS, road
from .robustness import max_sensitivity
from .sanity import randomization_check

RANDOM = "random"
"""The pseudo-method of uniformly random heatmaps, the chance level."""


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
            method (users' own included).
        targets: (N,) class ids to explain; the predictions when `None`.
        masks: (N, H, W) bool object masks; localization is skipped without them.
        layer: the layer to explain, as for `Explainer`.
        steps, baseline: of the deletion and insertion curves.
        randomization_images: images used by the randomization check.
        seed: seed of the random heatmaps, the randomization, ROAD's noise and
            max-sensitivity's perturbations.
        road_fractions: the shares of pixels ROAD removes.
        sensitivity_samples: perturbations per image of max-sensitivity.
    """
    methods = class_methods() if methods is None else list(methods)
    if targets is None:
        targets = np.argmax(np.asarray(model.predict(images, verbose=0)), axis=-1)
    targets = np.asarray(targets)
    rows, deletions, insertions, roads = [], {}, {}, {}
    for name in list(methods) + [RANDOM]:
        start = time.perf_counter()
        heatmaps = _heatmaps(model, images, targets, name, layer, seed)
        seconds = (time.perf_counter() - start) / len(images)
        deletions[name] = deletion(model, images, heatmaps, targets, baseline, steps)
        insertions[name] = insertion(model, images, heatmaps, targets, baseline, steps)
        drop, increase = average_drop_increase(model, images, heatmaps, targets)
        roads[name] = road(model, images, heatmaps, targets, road_fractions, seed=seed)
        check = sensitivity = None
        if name != RANDOM:
            check = randomization_check(
                model, images[:randomization_images], method=name, layer=layer, seed=seed
            )
            explainer = Explainer(model, layer=layer, method=name)
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


def _heatmaps(model, images, targets, name, layer, seed) -> np.ndarray:
    if name == RANDOM:
        explainer = Explainer(model, layer=layer)
        shape = explainer(images[:1]).heatmaps.shape[2:]
        return np.random.default_rng(seed).uniform(size=(len(images),) + shape)
    return explain_batch(model, images, targets=targets, layer=layer, method=name).heatmaps[:, 0]


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}"
