"""RefineCAM (`combine="product"`) against each of its layers alone and their mean.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/refinecam.py [--quick]

The demo model on the images `camlens evaluate --count 200 --seed 4321` scores
(generated shapes the model never saw in training, the true class explained,
object boxes for the pointing games), Grad-CAM++ as pytorch-grad-cam's
RefineCAM runs it, at three depths of the model: `block2_relu` (32x32),
`block4_relu` (16x16) and `last_conv` (16x16). Each row gives the pointing game,
the energy in the box, and deletion / insertion AUC (16 steps, blurred
baseline), as `camlens.metrics.evaluate` computes them.
"""

from __future__ import annotations

import argparse

import numpy as np

import camlens
import models as bench
from camlens.demo import load_demo_model, make_dataset
from camlens.metrics import boxes_to_masks
from camlens.metrics.faithfulness import deletion, insertion
from camlens.metrics.localization import energy_pointing_game, pointing_game

LAYERS = ["block2_relu", "block4_relu", "last_conv"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 images instead of 200")
    args = parser.parse_args()
    data = make_dataset(40 if args.quick else 200, seed=4321)
    boxes = boxes_to_masks(data.boxes, data.masks.shape[1:])
    model = load_demo_model()
    bench.header("RefineCAM on the demo model (Grad-CAM++, true class)", args.quick)
    runs = {f"{layer} alone": {"layer": layer} for layer in LAYERS}
    runs["mean of the three"] = {"layers": LAYERS, "combine": "mean"}
    runs["RefineCAM: product of the three"] = {"layers": LAYERS, "combine": "product"}
    headers = ["maps", "pointing game", "energy in the box", "deletion AUC", "insertion AUC"]
    print(bench.table(headers, []))
    for title, options in runs.items():
        explainer = camlens.Explainer(model, method="gradcam++", **options)
        heatmaps = explainer(data.images, targets=data.labels).heatmaps[:, 0]
        cells = [
            pointing_game(heatmaps, boxes).mean(),
            energy_pointing_game(heatmaps, boxes).mean(),
            deletion(model, data.images, heatmaps, data.labels, "blur", 16).auc.mean(),
            insertion(model, data.images, heatmaps, data.labels, "blur", 16).auc.mean(),
        ]
        print(bench.row([title, *(f"{float(np.mean(c)):.3f}" for c in cells)]), flush=True)


if __name__ == "__main__":
    main()
