"""`discover` concepts per class over a set of images, and `explain` new images with them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import check_positive_int
from .fitting import ClassConcepts, ConceptBatch, ImageConcepts, fit_concepts, measure_image
from .passes import LOGIT, ConceptProbe


@dataclass
class ConceptMaps:
    """New images explained against learned concepts.

    Attributes:
        classes: (N,) the class whose concepts explain each image.
        maps: (N, k, *grid) each concept's coefficient at each position of the layer.
        coefficients: (N, k) the maps averaged over the positions.
        contributions: (N, k) each concept's gradient x input for the class score.
    """

    classes: np.ndarray
    maps: np.ndarray
    coefficients: np.ndarray
    contributions: np.ndarray


@dataclass
class Concepts:
    """Concepts of each class at one layer of a model (see `discover`).

    Attributes:
        layer: the layer's name.
        score: the score the importance is of (`"logit"` or `"output"`).
        per_class: `ClassConcepts` by class id.
        images: `ImageConcepts` of the images they were learned from.
    """

    layer: str
    score: str
    per_class: dict[int, ClassConcepts]
    images: ImageConcepts

    def explain(self, model, images, classes=None, batch_size: int = 32) -> ConceptMaps:
        """Each image's concept maps, coefficients and contributions, against the
        concepts of its class.

        Args:
            model: the model the concepts were learned on.
            images: (N, H, W, C) images, as for `Explainer`.
            classes: (N,) class ids, or `None` for each image's top prediction.
            batch_size: images per probe pass.

        Raises:
            ValueError: an image's class has no learned concepts.
        """
        probe = ConceptProbe(model, layer=self.layer, score=self.score)
        parts = []
        for batch in _batches(probe, images, classes, batch_size):
            for n, class_id in enumerate(batch.classes.tolist()):
                if class_id not in self.per_class:
                    raise ValueError(
                        f"class {class_id} has no learned concepts (they were learned for "
                        f"classes {sorted(self.per_class)}). Received: classes with {class_id}"
                    )
                found = measure_image(
                    batch.activations[n],
                    batch.gradients[n],
                    self.per_class[class_id].bases,
                )
                parts.append((class_id, np.moveaxis(found[0], -1, 0), found[1], found[2]))
        return ConceptMaps(
            classes=np.array([p[0] for p in parts], np.int64),
            maps=np.stack([p[1] for p in parts]),
            coefficients=np.stack([p[2] for p in parts]),
            contributions=np.stack([p[3] for p in parts]),
        )


def discover(
    model,
    images,
    classes=None,
    concepts: int = 5,
    layer=None,
    batch_size: int = 32,
    seed: int = 0,
    epochs: int = 2,
    score: str = LOGIT,
) -> Concepts:
    """Concepts per class: a non-negative factorisation of a layer's activations
    over each class's images, with each concept's importance for the class score.

    Each image belongs to one class (its label, or its top prediction); per class,
    the activations at every position of its images are factorised into `concepts`
    non-negative parts (`MiniBatchNMF`, fed a batch at a time): each concept is a
    direction in the layer's channels and has a map per image. Its importance is
    CRAFT's gradient-input estimator: the gradient of the class logit along the
    concept, times its coefficient, summed over the positions and averaged over
    the class (Fel et al. 2023). Concepts are sorted by importance.

    Args:
        model: a Keras classifier.
        images: (N, H, W, C) images, as for `Explainer`.
        classes: (N,) class ids (the labels), or `None` for the top predictions.
        concepts: concepts per class.
        layer: the layer, as for `Explainer` (its activations must be
            non-negative, e.g. after a ReLU); `None`: the automatic choice.
        batch_size: images per probe pass.
        seed: of the factorisation.
        epochs: passes over the activations while learning.
        score: `"logit"` or `"output"`, the score whose gradient weighs concepts.

    Returns:
        `Concepts`.

    Example:
        >>> found = camlens.concepts.discover(model, images, labels, concepts=5)
        >>> found.per_class[3].share          # each concept's share of class 3's score
        >>> found.explain(model, new_images).maps.shape   # (N, 5, h, w)
    """
    concepts = check_positive_int(concepts, "concepts")
    batch_size = check_positive_int(batch_size, "batch_size")
    epochs = check_positive_int(epochs, "epochs")
    probe = ConceptProbe(model, layer=layer, score=score)
    held = list(_batches(probe, images, classes, batch_size))
    channels = held[0].activations.shape[-1] if held else 0
    if concepts > channels:
        raise ValueError(
            f"concepts must be at most the layer's channels ({channels}). "
            f"Received: concepts={concepts}"
        )
    per_class, per_image = fit_concepts(lambda: held, concepts, seed=seed, epochs=epochs)
    return Concepts(probe.layer.name, score, per_class, per_image)


def _batches(probe: ConceptProbe, images, classes, batch_size: int):
    prepared = probe.prepare(images)
    if not isinstance(prepared, np.ndarray):
        raise ValueError(
            "concepts are learned for models of one image input. Received: a model "
            "with several inputs"
        )
    count = len(prepared)
    if classes is not None:
        classes = np.asarray(classes)
        if classes.shape != (count,) or not np.issubdtype(classes.dtype, np.integer):
            raise ValueError(
                f"classes must be ({count},) class ids, one per image. Received: "
                f"classes with shape {classes.shape} and dtype {classes.dtype}"
            )
    for start in range(0, count, batch_size):
        part = slice(start, start + batch_size)
        chosen = None if classes is None else classes[part]
        activations, gradients, targets = probe(prepared[part], chosen, pad_to=batch_size)
        yield ConceptBatch(np.arange(start, start + len(targets)), targets, activations, gradients)
