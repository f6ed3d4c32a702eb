"""ROAD references: pytorch-grad-cam's pieces, imported without the rest of the
package, and a dense solve of the paper's imputation (`dense_imputation`).

`pytorch_grad_cam/__init__.py` imports every CAM class (and through them
torchvision), and `metrics/perturbation_confidence.py` imports OpenCV for its
Otsu threshold only; neither is installed here (`grad-cam` is installed with
`--no-deps`, see the Makefile). The package is entered as a bare namespace and
OpenCV as an empty module, for the duration of the import only: what ROAD needs
(torch, numpy, scipy) is what runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest


def grad_cam_road():
    """The module `pytorch_grad_cam.metrics.road`, or the test skipped without it."""
    spec = importlib.util.find_spec("pytorch_grad_cam")
    if spec is None or spec.submodule_search_locations is None:
        pytest.skip("pytorch-grad-cam is not installed (pip install --no-deps grad-cam)")
    pytest.importorskip("torch")
    saved = {name: sys.modules.get(name) for name in ("pytorch_grad_cam", "cv2")}
    package = types.ModuleType("pytorch_grad_cam")
    package.__path__ = [str(Path(p)) for p in spec.submodule_search_locations]
    sys.modules["pytorch_grad_cam"] = package
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))
    try:
        return importlib.import_module("pytorch_grad_cam.metrics.road")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


SIDES, CORNERS = 1 / 6, 1 / 12


def dense_imputation(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Each missing pixel = the weighted mean of its neighbours inside the image
    (sides 1/6, corners 1/12, divided by the weights present), one dense system."""
    height, width, _ = image.shape
    where = list(zip(*np.nonzero(missing)))
    number = {pixel: i for i, pixel in enumerate(where)}
    system = np.zeros((len(where), len(where)))
    right = np.zeros((len(where), image.shape[2]))
    for i, (y, x) in enumerate(where):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = y + dy, x + dx
                if (dy, dx) == (0, 0) or not (0 <= ny < height and 0 <= nx < width):
                    continue
                weight = CORNERS if dy and dx else SIDES
                system[i, i] += weight
                if (ny, nx) in number:
                    system[i, number[ny, nx]] -= weight
                else:
                    right[i] += weight * image[ny, nx]
    result = image.astype(np.float64).copy()
    solved = np.linalg.solve(system, right)
    for i, pixel in enumerate(where):
        result[pixel] = solved[i]
    return result
