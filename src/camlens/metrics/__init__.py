"""Numbers that say whether an explanation can be trusted.

- localization: `pointing_game`, `energy_pointing_game` (against known objects).
- faithfulness: `deletion`, `insertion` (curves and AUC), `average_drop_increase`;
  `road` (remove and debias: noisy linear imputation, MoRF, LeRF, combined).
- complexity: `sparseness` (Gini index), `complexity` (entropy) of a map.
- robustness: `max_sensitivity` (the largest change of a map under small noise).
- sanity: `randomization_check` (maps must change when the model's top layers do).
- evaluation: `evaluate`, every metric for several methods, as `camlens evaluate`
  prints it (`format_table`, `write_csv`, `plot_curves`).
"""

from .complexity import complexity, sparseness
from .evaluation import Evaluation, MethodScores, evaluate, format_table, plot_curves, write_csv
from .faithfulness import Curves, average_drop_increase, deletion, insertion
from .localization import boxes_to_masks, energy_pointing_game, pointing_game
from .road import RoadScores, road
from .robustness import max_sensitivity
from .sanity import RandomizationCheck, randomization_check, spearman

__all__ = [
    "Curves",
    "Evaluation",
    "MethodScores",
    "RandomizationCheck",
    "RoadScores",
    "average_drop_increase",
    "boxes_to_masks",
    "complexity",
    "deletion",
    "energy_pointing_game",
    "evaluate",
    "format_table",
    "insertion",
    "max_sensitivity",
    "plot_curves",
    "pointing_game",
    "randomization_check",
    "road",
    "sparseness",
    "spearman",
    "write_csv",
]
