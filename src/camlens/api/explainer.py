"""The reusable explainer: resolves the layer once, reuses compiled probes.

Besides its public call, `Explainer` offers the package-internal interface the other
entry points (`explain_prediction`, `explain_batch`, `explain_methods`, the audit, the
sanity check) are built on: `prepare` checks and converts the input once,
`explain_prepared` explains it (`pad_to`: at a compiled batch size), `probe_pass` and
`method_inputs` give one probe pass's arrays, `maps_of` turns them into `Maps`, `variant`
gives the same options at another layer, score or model (`layers=`, a detector's levels,
CLIP's and DINOv2's class-token path); `layer_given` says whether the layer was given."""

from __future__ import annotations

import copy

import keras
import numpy as np

from .. import methods
from ..checks import (
    check_bool,
    check_callable,
    check_choice,
    check_combine,
    check_counterfactual,
    check_layers,
    check_max_channels,
    check_output_index,
    check_positive_int,
    check_prefix_tokens,
    check_smooth,
    check_token_grid,
)
from ..methods.fusion import COMBINATIONS
from ..methods.registry import normalized, raw
from ..methods.smoothing import AUGMENT
from ..model.channels import check_region_layout
from ..model.detectors import DetectionHead, check_detection_head
from ..model.inputs import as_model_inputs, check_image_input, check_model, prepare_input
from ..model.inspection import Inspection
from ..model.layer_choice import check_output, resolve_layer
from ..model.slots import inspect_inputs
from ..model.state import refresh
from ..model.token_grid import Layout
from ..probe import SCORES, ProbeResult, probe_for
from ..probe.plan import REGION, SIMILAR
from .blank_maps import warn_if_blank
from .class_token_parts import class_token_part
from .combining import maps_over_augmentations, maps_over_layers
from .detection import detector_for, explain_detections, is_detection_call
from .layer_runs import choose_layer, fixed_shape_inspection, run_at
from .passes import method_inputs
from .planning import plan_targets, with_comparisons
from .prompts import towers_for
from .results import Maps
from .target_data import with_target_data


class Explainer:
    """Explains a model's predictions with one method at one layer.

    Creating one is cheap; the compiled computation behind it is cached per model
    and layer (for as long as the model lives) and traced once per input shape,
    so many calls, or many explainers of the same model, cost about one forward
    and backward pass each.

    Args:
        model: a built Keras 3 model taking one image batch, channels last:
            (N, H, W, C), or 1-D signals (N, T, C), or volumes (N, D, H, W, C).
        layer: a layer of `model` (nested models included), its name, an index
            into `model.layers`, or `None` for the automatic choice: the last
            layer with a spatial output (4-D with more than one position, or a
            vision transformer's tokens) on which the explained score depends.
        method: `"gradcam"` (default), `"gradcam++"`, `"scorecam"`,
            `"layercam"`, `"xgradcam"`, `"hirescam"`, `"eigencam"`, another
            name of `camlens.methods.METHODS` (the README's methods table), or
            the name of a method registered with `camlens.methods.register`.
        relu: `False` keeps negative evidence: maps are then divided by their
            largest magnitude, values in [-1, 1], negative where a region lowers
            the score.
        counterfactual: explain what speaks against each target (the negated
            score, Selvaraju et al.'s counterfactual explanation).
        score: `"output"` explains the model's output (post-softmax for a model
            ending in softmax), `"logit"` the score before its last softmax or
            sigmoid, read during the forward pass without changing the model (a
            `ValueError` where camlens cannot find it); `None` uses the method's
            own choice ("logit" for Grad-CAM++, whose closed form needs it,
            else "output").
        mask_batch_size: masked or ablated images per forward pass (Score-CAM,
            Ablation-CAM).
        max_channels: Score-CAM and Ablation-CAM only: score just the `k`
            channels of largest activation variance over the locations (Faster
            Score-CAM); the other channels weigh 0. `None` scores every channel.
        smooth: `"aug"` averages the maps of the image and its horizontal flip,
            each with its intensities scaled by 0.9, 1 and 1.1 (the flipped maps
            flipped back), as pytorch-grad-cam's `aug_smooth`; every variant
            explains the classes chosen for the image itself (class-id targets
            only). `"eigen"` replaces the sum over channels by the projection
            of the method's channel terms on their first principal component
            (pytorch-grad-cam's `eigen_smooth`; for the methods whose map is
            such a sum). `None`: no smoothing.
        token_grid: `(rows, columns)` of a token output's patch grid, where it
            cannot be inferred (by default: as many patch tokens as fit the
            input's aspect ratio).
        prefix_tokens: leading tokens that are not patches (class, distillation
            or register tokens), dropped; by default those beyond the grid.
        output_index: for a `layer` whose call returns several tensors (a tuple
            or list), which one is explained; the first by default. The automatic
            choice sets the attribute `output_index` to the tensor it chose.
        preprocess: a callable applied to the images before the model and
            outside the differentiated part, e.g. a keras-hub classifier's
            `preprocessor`: the images may then have any size.
        layers: several layers at once, instead of `layer`: each layer's maps
            upsampled to the finest grid and combined (multi-layer CAM, e.g.
            Layer-CAM over several stages); one probe pass per layer. `"levels"`:
            a detector's pyramid levels (RetinaNet's P3 to P7, D-FINE's encoder's).
        combine: how the maps of `layers` are combined: `"mean"`, `"max"`, or
            `"product"` (RefineCAM: a location keeps weight only where every
            layer's map has it; needs `relu=True`).
        image_input: for a model with several inputs (an image beside
            tabular data, say), the input the maps are for: an index into
            `model.inputs` or an input's name; `None` takes the only input of
            image rank. The images are then passed as a list (in
            `model.inputs` order) or a dict by input name of all inputs.
        constant_inputs: inputs of such a model that are the same for every
            image (a fixed query, prompts' token ids): names or indices, passed
            with any number of rows, never split, padded or masked. A keras-hub
            image–text backbone (CLIP, SigLIP, MetaCLIP 2) takes the images
            alone instead, with `Prompt` targets (see `docs/image-text.md`).
        detector: a `camlens.DetectionHead` for a detector of your own (keras-hub's
            RetinaNet and D-FINE, and outputs named "boxes" and "classes", need none).

    Example:
        >>> explainer = camlens.Explainer(model, layer="last_conv")
        >>> maps = explainer(images, targets=[3, 5])   # images (N, H, W, C)
        >>> maps.heatmaps.shape                        # (N, 2, h, w)
    """

    def __init__(
        self,
        model: keras.Model,
        layer=None,
        method: str = "gradcam",
        relu: bool = True,
        counterfactual: bool = False,
        score: str | None = None,
        mask_batch_size: int = 64,
        token_grid: tuple[int, int] | None = None,
        prefix_tokens: int | None = None,
        output_index: int = 0,
        preprocess=None,
        max_channels: int | None = None,
        smooth: str | None = None,
        layers=None,
        combine: str = "mean",
        image_input=None,
        constant_inputs=None,
        detector: DetectionHead | None = None,
    ):
        self.model = check_model(model)
        self.method = methods.get_method(method)
        self.towers = towers_for(model, constant_inputs, preprocess, self.method)
        """An image–text backbone explained for prompts (`Towers`), else `None`."""
        if self.towers is not None:  # explained on its image side, the text as embeddings
            self.model, self.image_slots = self.towers.side, self.towers.side.slots
        else:
            self.image_slots = check_image_input(model, image_input, self.method, constant_inputs)
        """The inputs of a model with several (`InputSlots`), `None` for one input."""
        self.image_input = image_input
        self.relu = check_bool(relu, "relu")
        self.counterfactual = check_counterfactual(self.method, counterfactual)
        self.score = check_choice(self.method.score if score is None else score, "score", SCORES)
        self.mask_batch_size = check_positive_int(mask_batch_size, "mask_batch_size")
        self.token_grid = check_token_grid(token_grid)
        self.prefix_tokens = check_prefix_tokens(prefix_tokens)
        self.output_index = check_output_index(output_index, layer)
        self.preprocess = check_callable(
            preprocess,
            "preprocess",
            "taking the image batch, e.g. a keras-hub classifier's preprocessor",
        )
        self.max_channels = check_max_channels(self.method, max_channels)
        self.smooth = check_smooth(self.method, smooth)
        self.combine = check_combine(combine, self.relu, COMBINATIONS)
        layers = check_layers(layers, layer)
        self.all_levels = layers == "levels"  # a detector's pyramid levels, combined
        layers = None if self.all_levels else layers
        self.detection_head = check_detection_head(detector)
        self.warns_blank, self.detection_similarities = True, None  # see `api.detection`
        self.logit_gradients = False  # also the class logits', in `probe_pass` (concepts)
        self.layer_given = layer is not None or layers is not None
        """Whether the layer (or the list of `layers=`) was given rather than chosen."""
        self._layer = None
        self._layouts: dict[tuple, Layout] = {}  # (id(layer), output index, input shape) -> grid
        self.parts: list[Explainer] | None = None
        """One explainer per layer of `layers=`, else `None`."""
        if self.layer_given:
            inspection = fixed_shape_inspection(self.model, self.image_slots)
        if layer is not None:
            self._layer = resolve_layer(model, layer, inspection, self.output_index)
        if layers is not None:
            self.parts = [
                self.variant(layer=resolve_layer(model, item, inspection, self.output_index))
                for item in layers
            ]

    @property
    def layer(self) -> keras.layers.Layer | None:
        """The layer explained.

        The automatic choice is made on the first batch explained. Asked before
        that, for a classifier with a fixed input shape, it is made on one seeded
        random image; otherwise it is `None` until the first call. `None` with
        `layers=` (see `layers`).
        """
        if self.parts is not None:
            return None
        if self._layer is None:
            inspection = fixed_shape_inspection(self.model, self.image_slots)
            if inspection is not None and inspection.num_classes is not None:
                assert inspection.input_shape is not None, "inspected at its own input shape"
                image = np.random.default_rng(0).uniform(0, 1, inspection.input_shape[1:])
                self.probe_pass(image[None].astype(np.float32), None)
        return self._layer

    @property
    def layers(self) -> list[keras.layers.Layer]:
        """The layers explained: those of `layers=`, or the one `layer`."""
        if self.parts is not None:
            return [part._layer for part in self.parts]
        return [self.layer]

    def __call__(self, images: np.ndarray, targets=None) -> Maps:
        """Maps for a batch of images.

        Args:
            images: (N, H, W, C) array fitting the model's input (any size
                with `preprocess`); (N, T, C) signals or (N, D, H, W, C)
                volumes for a model of 1-D or 3-D inputs.
            targets: `None` for each image's top prediction, a class id, a target
                object from `camlens.targets`, a callable mapping the model output to
                one score per image, a list of those (one map per entry, in order),
                or an int array of class ids per image, (N,) or (N, K).

        Returns:
            `Maps` with heatmaps (N, K, h, w): (N, K, t) or (N, K, d, h, w)
            for 1-D and 3-D inputs.
        """
        return self.explain_prepared(self.prepare(images, name="images"), targets)

    def prepare(self, images, name: str = "images", single: bool = False):
        """The model's input for `images`: checked, through `preprocess` if given;
        channels last (a channels_first model's inputs moved, see
        `camlens.model.channels`).

        Args:
            name: the argument's name, for messages.
            single: require a batch of exactly one input.

        Returns:
            The image array, or `ModelInputs` for a model with several inputs.
        """
        if self.towers is not None:
            return self.towers.prepare(images, name, single)
        return prepare_input(self.model, images, self.image_slots, self.preprocess, name, single)

    def explain_prepared(self, prepared, targets, pad_to: int | None = None) -> Maps:
        """`__call__` for input already prepared by `prepare` (an array, or
        `ModelInputs` for a model with several inputs).

        `pad_to`: run the probe on a batch of this size (the last image repeated,
        the compiled shape), the methods on the N images only.
        """
        if is_detection_call(targets, detector_for(self, prepared)) or self.all_levels:
            return explain_detections(self, prepared, targets, pad_to)
        if self.parts is not None:
            return maps_over_layers(self, prepared, targets, pad_to)
        if (part := class_token_part(self, prepared, targets)) is not None:  # CLIP, DINOv2
            return part[0].explain_prepared(prepared, part[1], pad_to)
        batch, targets = with_target_data(self, as_model_inputs(prepared), targets)
        inputs, result, plan = self.method_inputs(batch, targets, pad_to)
        check = self.smooth != AUGMENT and self.warns_blank
        maps = self.maps_of(self.method, inputs, result, check=check)
        if self.smooth == AUGMENT:
            return maps_over_augmentations(self, batch, maps, inputs, plan, pad_to)
        return maps

    def maps_of(
        self,
        method: methods.Method,
        inputs: methods.MethodInputs,
        result: ProbeResult,
        check: bool = True,
    ) -> Maps:
        """The `Maps` of `method` from the arrays of one probe pass (`method_inputs`);
        `check`: warn of blank maps (`BlankMapWarning`), with their cause."""
        maps = raw(method, inputs, self.smooth)
        if check:
            warn_if_blank(maps, inputs, method, self._layer, self.relu, self.smooth)
        return Maps(
            heatmaps=normalized(maps, self.relu),
            targets=result.targets[:, : inputs.target_count],
            scores=result.scores[:, : inputs.target_count],
            outputs=result.outputs,
        )

    def method_inputs(self, prepared, targets, pad_to: int | None = None):
        """`(MethodInputs, ProbeResult, TargetPlan)` of one probe pass over prepared
        input (an array or `ModelInputs`).

        Any method of this explainer's score (and no more compared classes than
        its own method) can be computed from them: the passes some methods need
        more of (masked, ablated, second-order, guided) run when they ask.
        """
        batch, targets = with_target_data(self, as_model_inputs(prepared), targets)
        plan, result = self.probe_pass(batch, targets, pad_to)
        return (
            method_inputs(
                probe_for(self.model, self._layer, self.output_index),
                batch,
                plan,
                result,
                self._layouts[id(self._layer), self.output_index, batch.image.shape],
                score=self.score,
                counterfactual=self.counterfactual,
                mask_batch_size=self.mask_batch_size,
                max_channels=self.max_channels,
                compared=bool(self.method.comparisons),
                pad_to=pad_to,
                detection_similarities=self.detection_similarities,
            ),
            result,
            plan,
        )

    def probe_pass(self, prepared, targets, pad_to: int | None = None):
        """`(TargetPlan, ProbeResult)`: the targets planned and the probe's arrays,
        tokens laid out as a grid, for prepared input (an array or `ModelInputs`).

        Activations (N, h, w, C) and gradients (N, K, h, w, C). The automatic
        layer is chosen on the first pass.
        """
        batch, targets = with_target_data(self, as_model_inputs(prepared), targets)
        if refresh(self.model) and not self.layer_given:  # changed in place: choose again
            self._layer, self.output_index, self._layouts = None, 0, {}
        inspection = self.inspection_for(batch)
        outputs = inspection.outputs
        plan = with_comparisons(
            plan_targets(targets, outputs, len(batch.image)), self.method, outputs
        )
        if any(slot.kind == REGION for slot in plan.slots):
            check_region_layout(self.model)
        count = sum(slot.kind != SIMILAR for slot in plan.slots)
        if self._layer is None:
            return plan, self._choose_layer(inspection, batch, plan, count, pad_to)
        check_output(self._layer, inspection, self.output_index)
        return plan, self._run(self._layer, None, inspection, batch, plan, pad_to)

    def inspection_for(self, prepared) -> Inspection:
        """The model's inspection for prepared input's shapes (all inputs' for several)."""
        return inspect_inputs(self.model, prepared)

    def settle_layer(self, layer: keras.layers.Layer, output_index: int = 0) -> None:
        """Take `layer`'s tensor `output_index` as the automatic choice where none is
        made yet (`explain_methods`)."""
        if self._layer is None:
            self._layer, self.output_index = layer, output_index

    def variant(self, layer=None, output_index=None, score=None, warns_blank=True):
        """This explainer's options at another `layer` (its tensor `output_index`) or
        `score`: the parts of `layers=`, a detector's levels (`api.detection`)."""
        part = copy.copy(self)
        part._layouts, part.warns_blank = {}, warns_blank
        if layer is not None:
            part.layer_given, part._layer, part.parts, part.all_levels = True, layer, None, False
            part.output_index = self.output_index if output_index is None else output_index
        if score is not None:
            part.score = score
            part.parts = part.parts and [each.variant(score=score) for each in part.parts]
        return part

    def _choose_layer(self, inspection, batch, plan, targets: int, pad_to) -> ProbeResult:
        """The automatic choice, on the first pass (see `layer_runs.choose_layer`)."""

        def run(candidate):
            at = (candidate.layer, candidate.layout, inspection, batch, plan, pad_to, True)
            return self._run(*at, output_index=candidate.output_index)

        key = (self.token_grid, self.prefix_tokens)
        chosen, result = choose_layer(inspection, run, targets, self.model, *key, plan.slots)
        self._layer, self.output_index = chosen.layer, chosen.output_index
        return result

    def _run(self, layer, grid, inspection, batch, plan, pad_to, gradients=None, output_index=None):
        """The probe's arrays at `layer` (its tensor `output_index`, by default the
        explainer's) for the targets of `plan`, tokens as a grid."""
        gradients = self.method.gradients if gradients is None else gradients
        index = self.output_index if output_index is None else output_index
        result, grid = run_at(self, layer, grid, inspection, batch, plan, pad_to, gradients, index)
        self._layouts[id(layer), index, batch.image.shape] = grid
        return result
