"""camlens's maps against pytorch-grad-cam's, method by method: Pearson r.

Usage:
    pip install grad-cam --no-deps        # pytorch-grad-cam 1.5.7, no dependencies
    KERAS_BACKEND=torch PYTHONPATH=src python benchmarks/agreement.py [--quick]

pytorch-grad-cam cannot be imported in camlens's environment as it is: its
package imports torchvision and OpenCV (for its image utilities and targets)
and ttach (test-time augmentation), which camlens does not install (torchvision
would pull another torch). Its methods' formulas, though, are numpy functions of
a layer's activations and gradients, (N, C, h, w), in its classes'
`get_cam_weights` and `get_cam_image`; Score-CAM's runs the model too. So this
script loads pytorch-grad-cam's own modules from the installed package with
those three imports replaced by stand-ins that the formulas never call
(`_load_pytorch_grad_cam`), and runs them unchanged on the activations and
gradients of camlens's probe for the same model, layer, image and class,
transposed to (N, C, h, w). What is compared is the formulas and the
normalisation, not the probes: camlens's probe is checked against autodiff in
the test suite.

The model is Keras's MobileNetV2 with seeded random weights (BatchNorm
calibrated, see models.py) at 96x96, on scikit-image's astronaut, coffee and
cat photos; the layers are `block_6_expand_relu` (12x12) and
`block_13_expand_relu` (6x6), the class the model's top prediction. Both
libraries' maps are taken after their ReLU (pytorch-grad-cam's `np.maximum(cam,
0)`), at the layer's resolution, before any resizing; the table gives the
smallest Pearson r over the three photos and two layers. Score-CAM's masks are
upsampled to the input by each library its own way (bilinear, pytorch-grad-cam
with aligned corners), so its r is not expected to be 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types

import keras
import numpy as np

import camlens
import models as bench

LAYERS = ("block_6_expand_relu", "block_13_expand_relu")
SHAPE = (96, 96, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one photo, one layer")
    parser.add_argument("--methods", default=None, help="comma-separated subset of PAIRS")
    args = parser.parse_args()
    chosen = list(PAIRS) if args.methods is None else args.methods.split(",")
    if keras.backend.backend() != "torch":
        raise SystemExit("run with KERAS_BACKEND=torch: Score-CAM runs the model through torch")
    pgc = _load_pytorch_grad_cam()
    model = _mobilenet()
    photos = _photos()
    photos = dict(list(photos.items())[:1]) if args.quick else photos
    layers = LAYERS[-1:] if args.quick else LAYERS
    bench.header(
        "camlens against pytorch-grad-cam (Pearson r, smallest over images and layers)", args.quick
    )
    rows = {}
    for layer in layers:
        for photo in photos.values():
            for method, r in _agreements(pgc, model, photo, layer, chosen).items():
                rows.setdefault(method, []).append(r)
    print(bench.table(["camlens method", "pytorch-grad-cam", "smallest r", "mean r"], []))
    for row, values in rows.items():
        theirs = PAIRS[row.split(",")[0]][0]
        print(bench.row([row, theirs, f"{min(values):.4f}", f"{np.mean(values):.4f}"]), flush=True)
    print(f"\nphotos: {', '.join(photos)}; layers: {', '.join(layers)}")


PAIRS = {
    # camlens method (and options) -> (pytorch-grad-cam class, module, its options)
    "gradcam": ("GradCAM", "grad_cam", {}),
    "gradcam++": ("GradCAMPlusPlus", "grad_cam_plusplus", {}),
    "xgradcam": ("XGradCAM", "xgrad_cam", {}),
    "layercam": ("LayerCAM", "layer_cam", {}),
    "hirescam": ("HiResCAM", "hirescam", {}),
    "gradcam-elementwise": ("GradCAMElementWise", "grad_cam_elementwise", {}),
    "eigencam": ("EigenCAM", "eigen_cam", {}),
    "eigengradcam": ("EigenGradCAM", "eigen_grad_cam", {}),
    "kpcacam": ("KPCA_CAM", "kpca_cam", {"kernel": "sigmoid", "gamma": None}),
    "fem": ("FEM", "fem", {"k": 2}),
    "segeigencam": ("SegEigenCAM", "seg_eigen_cam", {}),
    "scorecam": ("ScoreCAM", "score_cam", {}),
}

ARBITRARY_SIGN = ("eigencam", "eigengradcam", "kpcacam")
"""pytorch-grad-cam leaves the sign of these projections as the SVD or kernel PCA
gives it (kernel PCA: the location of largest magnitude positive); camlens
chooses it (along the total activation). Their rows compare the maps before the
ReLU up to sign (|r|: is the formula the same?), and count how often the two
signs agree (1 = always): after the ReLU, maps of opposite signs share nothing."""


def _agreements(pgc, model, photo, layer, chosen) -> dict[str, float]:
    """{row: Pearson r of camlens's map and pytorch-grad-cam's} for one photo.

    Rows: each method on the model's output (pytorch-grad-cam's targets read
    the output); Grad-CAM++ also on the logit (camlens's default for it); the
    methods of `ARBITRARY_SIGN` also before the ReLU, up to sign.
    """
    found = {}
    for score in ("output", "logit"):
        names = [n for n in chosen if n != "scorecam" and (score == "output" or n == "gradcam++")]
        if not names:
            continue
        maps = camlens.explain_methods(model, photo, methods=names, layer=layer, score=score)
        explainer = camlens.Explainer(model, layer=layer, score=score)
        inputs, result, _ = explainer.method_inputs(explainer.prepare(photo), None)
        activations = _nchw(inputs.activations)
        gradients = _nchw(inputs.gradients[:, 0])
        for name in names:
            cam = _their_cam(pgc, name, activations, gradients)
            ours = maps[name].heatmaps[0, 0]
            row = name if score == "output" else f"{name}, score='logit'"
            found[row] = _pearson(ours, np.maximum(cam, 0))
            if name in ARBITRARY_SIGN:
                signed = camlens.Explainer(model, layer=layer, method=name, relu=False)(photo)
                r = _pearson(signed.heatmaps[0, 0], cam)
                found[f"{name}, before the ReLU, up to sign (|r|)"] = abs(r)
                found[f"{name}, before the ReLU, signs agree (1 = always)"] = float(r > 0)
        if score == "output" and "scorecam" in chosen:
            target = int(result.targets[0, 0])
            ours = camlens.Explainer(model, layer=layer, method="scorecam", score=score)(photo)
            cam = _their_scorecam(pgc, model, photo, activations, target)
            found["scorecam"] = _pearson(ours.heatmaps[0, 0], np.maximum(cam, 0))
    return found


def _nchw(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(array, -1, 1)).astype(np.float32)


def _their_cam(pgc, name, activations, gradients) -> np.ndarray:
    """pytorch-grad-cam's map before its ReLU, (h, w)."""
    class_name, module, options = PAIRS[name.split(",")[0]]
    method = _bare(getattr(pgc[module], class_name))
    for key, value in options.items():
        setattr(method, key, value)
    return method.get_cam_image(None, None, None, activations, gradients, False)[0]


def _their_scorecam(pgc, model, photo, activations, target) -> np.ndarray:
    import torch

    method = _bare(pgc["score_cam"].ScoreCAM)
    method.device = torch.device("cpu")
    method.model = lambda batch: model(batch.permute(0, 2, 3, 1), training=False)
    image = torch.from_numpy(np.ascontiguousarray(np.moveaxis(photo, -1, 1)))
    weights = method.get_cam_weights(image, None, [lambda out: out[target]], activations, None)
    return (weights[:, :, None, None] * activations).sum(axis=1)[0]


def _bare(cls):
    """An instance of a pytorch-grad-cam method without its model hooks (its
    formulas need none; `release` is what its destructor calls)."""
    method = cls.__new__(cls)
    method.activations_and_grads = types.SimpleNamespace(release=lambda: None)
    return method


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _load_pytorch_grad_cam() -> dict[str, types.ModuleType]:
    """pytorch-grad-cam's method modules, loaded from the installed package with
    stand-ins for what imports torchvision, OpenCV and ttach (never called here)."""
    spec = importlib.util.find_spec("pytorch_grad_cam")
    if spec is None:
        raise SystemExit("pip install grad-cam --no-deps (pytorch-grad-cam) first")
    root = spec.submodule_search_locations[0]
    package = types.ModuleType("pytorch_grad_cam")
    package.__path__ = [root]
    utils = types.ModuleType("pytorch_grad_cam.utils")
    utils.__path__ = [f"{root}/utils"]
    image = types.ModuleType("pytorch_grad_cam.utils.image")
    image.scale_cam_image = image.scale_accross_batch_and_channels = _not_here
    targets = types.ModuleType("pytorch_grad_cam.utils.model_targets")
    targets.ClassifierOutputTarget = _not_here
    ttach = types.ModuleType("ttach")
    ttach.Compose = ttach.HorizontalFlip = ttach.Multiply = _not_here
    for module in (package, utils, image, targets, ttach):
        sys.modules[module.__name__] = module
    tqdm = types.ModuleType("tqdm")  # Score-CAM's progress bar, kept quiet
    tqdm.tqdm = lambda iterable, **kwargs: iterable
    sys.modules["tqdm"] = tqdm
    modules = {}
    for _, module, _ in PAIRS.values():
        modules[module] = importlib.import_module(f"pytorch_grad_cam.{module}")
    return modules


def _not_here(*args, **kwargs):
    raise RuntimeError("a stand-in: pytorch-grad-cam's image utilities are not loaded here")


def _mobilenet() -> keras.Model:
    keras.utils.set_random_seed(bench.SEED)
    model = keras.applications.MobileNetV2(weights=None, input_shape=SHAPE)
    bench.calibrate_batchnorm(model, SHAPE)
    return model


def _photos() -> dict[str, np.ndarray]:
    """scikit-image's photos at 96x96, scaled to [-1, 1] as MobileNetV2 takes them."""
    from PIL import Image
    from skimage import data

    photos = {}
    for name in ("astronaut", "coffee", "chelsea"):
        picture = Image.fromarray(getattr(data, name)()).resize(SHAPE[:2], Image.BILINEAR)
        photos[name] = (np.asarray(picture, np.float32)[None] / 127.5 - 1).astype(np.float32)
    return photos


if __name__ == "__main__":
    main()
