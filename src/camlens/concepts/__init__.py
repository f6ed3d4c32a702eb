"""Concepts across a data set: what the model looks at, and how much it counts.

Per class, a layer's activations over the class's images are factorised into a
few non-negative concepts (Deep Feature Factorization, Collins et al. 2018),
each with a map per image and an importance for the class score (CRAFT's
gradient-input estimator, Fel et al. 2023).

- `discover(model, images, classes, concepts=5)` -> `Concepts`;
  `Concepts.explain(model, new_images)` -> `ConceptMaps`.
- `fit_concepts`: the same from a stream of probe arrays (what the audit uses,
  reading them back from disk); `factorization`: the numpy and scikit-learn steps.
"""

from .discovery import ConceptMaps, Concepts, discover
from .fitting import ClassConcepts, ConceptBatch, ImageConcepts, fit_concepts

__all__ = [
    "ClassConcepts",
    "ConceptBatch",
    "ConceptMaps",
    "Concepts",
    "ImageConcepts",
    "discover",
    "fit_concepts",
]
