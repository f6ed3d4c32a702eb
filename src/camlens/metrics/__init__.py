"""Numbers that say whether an explanation can be trusted.

- localization: `pointing_game`, `energy_pointing_game` (against known objects).
- faithfulness: `deletion`, `insertion` (curves and AUC), `average_drop_increase`.
- sanity: `randomization_check` (maps must change when the model's top layers do).
"""

from .faithfulness import Curves, average_drop_increase, deletion, insertion
from .localization import boxes_to_masks, energy_pointing_game, pointing_game
from .sanity import RandomizationCheck, randomization_check, spearman

__all__ = [
    "Curves",
    "RandomizationCheck",
    "average_drop_increase",
    "boxes_to_masks",
    "deletion",
    "energy_pointing_game",
    "insertion",
    "pointing_game",
    "randomization_check",
    "spearman",
]
