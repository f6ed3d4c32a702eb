"""Helpers shared by the test tiers: models, inputs and independent references."""
