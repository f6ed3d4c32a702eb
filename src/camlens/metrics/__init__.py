"""Numbers that say whether an explanation can be trusted."""

from .localization import boxes_to_masks, energy_pointing_game, pointing_game

__all__ = ["boxes_to_masks", "energy_pointing_game", "pointing_game"]
