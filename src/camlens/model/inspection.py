"""One description of a model for one input shape, asked by everything else.

`inspect(model, input_shape)` traces the model once, symbolically (no real
computation), with every layer's `call` and Keras's softmax and sigmoid
intercepted, and keeps what the rest of camlens asks: each layer's output
shapes, which layers ran inside which, the size of the output's class axis,
and where the model's last activation is applied (to read the score before it).
The result is cached per model (for as long as it lives) and input shape, and
described again when the model changes in place (`state`).

The Keras internals it relies on are in `keras_internals`, each with its reason.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

import keras

from .capture import capture
from .channels import channels_last_shape, is_channels_first, model_shape
from .keras_internals import (
    activation_sites,
    all_layers,
    call_site,
    compute_output_spec,
    without_remat,
)
from .logit_site import LogitSite, find_logit_site
from .state import generation
from .token_grid import TokenPositions

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class OutputInfo:
    """One of the model's outputs: its name (or `None`) and shape without the batch axis."""

    name: str | None
    shape: tuple


@dataclass(eq=False)
class LayerRecord:
    """What one layer did in the traced forward pass.

    Attributes:
        layer: the layer (`None` for the model itself: the cache must not hold
            the model it is keyed by).
        shapes: the shape of each tensor of its output, in `keras.tree.flatten`
            order (one entry for a layer returning one tensor).
        children: records of the layers called inside its `call`, in the
            order they finished.
        calls: how many times it ran (more than one: a shared layer).
        chain: its sub-layers ran one after another, each taking the previous
            one's output, and it returned the last one's output unchanged (a
            nested `Sequential`, keras-hub's `ViTEncoder`); a residual block,
            which adds its sub-layers' outputs, is not a chain.
    """

    layer: keras.layers.Layer | None
    shapes: tuple = ()
    children: list = field(default_factory=list)
    calls: int = 0
    chain: bool = False
    inputs: int | None = None  # id of the first input tensor
    outputs: tuple = ()  # ids of the output tensors
    positions: int | None = None
    """How many positions of an image grid its token outputs can stand for (see
    `token_positions`): `None` where unknown."""


class Inspection:
    """A model traced once for one input shape.

    Attributes:
        input_shape: `(N, H, W, C)` as first explained (any N), channels
            last: a channels_first model's layer grids are recorded channels
            last too (see `camlens.channels`), its outputs as they are.
        root: the `LayerRecord` of the model itself.
        output_shapes: the shape of each tensor of the model's output.
        outputs: the model's outputs in `keras.tree.flatten` order, each with
            its name (`None` where the model names none) and its shape without
            the batch axis: what targets are checked against.
        num_classes: the size of the class axis of a `(batch, classes)`
            output, `None` for other outputs.
        channels_first: whether the model is channels_first (its outputs'
            channels are then on axis 1).
        settled_layers: the `(layer, output_index)` each automatic choice settled on, by its
            `(token_grid, prefix_tokens, target slots)`: later explainers of the model try it
            first, so that they do not rerun the candidates before it (a ViT's
            last block, whose gradients are zero) on every call.
    """

    def __init__(
        self, model: keras.Model, input_shape: tuple | None, call_shapes=None, constant=()
    ):
        self._model_ref = weakref.ref(model)
        self._model_name = model.name
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self._records: dict[int, LayerRecord] = {}
        first = self.channels_first = is_channels_first(model)
        if call_shapes is not None:
            traced = call_shapes
        elif self.input_shape is not None:
            traced = model_shape(self.input_shape, first)
        else:
            raise ValueError("inspect needs an input_shape or the shapes of a call")
        output, self._logit = _trace(model, traced, self._records, constant)
        self.root = self._records[id(model)]
        if first:  # the layers' grids as the probe gives them; the outputs as they are
            for record in self._records.values():
                if record is not self.root:
                    record.shapes = tuple(
                        channels_last_shape(shape, len(shape) == len(self.input_shape or ()))
                        for shape in record.shapes
                    )
        self.output_shapes = self.root.shapes
        self.outputs = [
            OutputInfo(name, shape[1:])
            for name, shape in zip(_output_names(model, output), self.output_shapes)
        ]
        self.settled_layers: dict[tuple, tuple[keras.layers.Layer, int]] = {}
        single = len(self.output_shapes) == 1 and len(self.output_shapes[0]) == 2
        self.num_classes = self.output_shapes[0][-1] if single else None

    def record(self, layer: keras.layers.Layer) -> LayerRecord | None:
        """The layer's record, `None` if it did not run in the forward pass."""
        return self._records.get(id(layer))

    def output_shape(self, layer: keras.layers.Layer, index: int = 0) -> tuple | None:
        """The shape of tensor `index` of the layer's output, `None` if unknown."""
        record = self.record(layer)
        if record is None or not -len(record.shapes) <= index < len(record.shapes):
            return None
        return record.shapes[index]

    def token_positions(self, layer: keras.layers.Layer) -> int | None:
        """At most how many patch tokens the layer's (N, T, C) outputs can hold.

        Tokens are made from an image grid: one per position, or one per patch
        of positions, so a layer whose input is a grid of P positions (the
        image, a convolution's output) gives at most P patch tokens, and every
        token output computed from those keeps the bound. A detection head's
        `Reshape` of a 16x16 grid into 16 * 16 * 9 anchor rows exceeds it: its
        rows fold positions with anchors, and are no patch grid. `None` where
        the trace cannot tell (the layer's input came from outside the trace).
        """
        record = self.record(layer)
        return None if record is None else record.positions

    def layers_in_call_order(self) -> list[keras.layers.Layer]:
        """Every layer that ran, nested ones included, in the order they finished."""
        return [record.layer for record in _post_order(self.root) if record.layer is not None]

    def logit_site(self) -> LogitSite | None:
        """Where to read the score before the last activation; `None`: the output is it.

        Raises:
            ValueError: when camlens cannot tell (the output comes from a layer
                it does not know, or from a layer placed after the activation).
        """
        if isinstance(self._logit, str):
            raise ValueError(
                "score='logit' explains the score before the model's last activation "
                f"(softmax or sigmoid), which camlens could not find in model "
                f"'{self._model_name}': {self._logit} Pass score='output' to explain "
                "the model's output itself. Received: score='logit'"
            )
        return self._logit


def inspect(
    model: keras.Model, input_shape: tuple | None, call_shapes=None, constant=()
) -> Inspection:
    """The cached `Inspection` of `model` for inputs of `input_shape` (any batch size).

    Args:
        input_shape: the (image) input's shape, channels last; `None` for a
            model with several inputs inspected for its logit only.
        call_shapes: for a model with several inputs, the list or dict of
            every input's shape, as the model is called.
        constant: the keys of `call_shapes` (names or indices) of inputs that
            are the same for every image: traced at their full shape (their
            rows, e.g. prompts, can be what an output counts).
    """
    key = (
        None if input_shape is None else tuple(input_shape[1:]),
        _shapes_key(call_shapes, constant),
    )
    current = generation(model)
    with _cache_lock:
        cached = _cache.get(model)
        if cached is None or cached[0] != current:  # first seen, or changed in place
            cached = _cache[model] = (current, {})
        per_model: dict = cached[1]
        inspection = per_model.get(key)
        if inspection is None:
            inspection = per_model[key] = Inspection(model, input_shape, call_shapes, constant)
        return inspection


def _shapes_key(call_shapes, constant=()):
    if call_shapes is None:
        return None
    items = call_shapes.items() if isinstance(call_shapes, dict) else enumerate(call_shapes)
    return tuple(
        sorted((key, tuple(shape if key in constant else shape[1:])) for key, shape in items)
    )


def as_input_structure(model: keras.Model, batch):
    """`batch` as the model takes it: a Functional model whose one input is a
    dict (keras-hub backbones: `{"images": ...}`) gets that dict, not the bare
    array Keras would accept with a warning."""
    try:
        structure = model.input if hasattr(batch, "shape") else None
    except (AttributeError, ValueError):
        return batch
    if isinstance(structure, dict) and len(structure) == 1:
        return {next(iter(structure)): batch}
    return batch


def graph_input_shape(model: keras.Model) -> tuple | None:
    """The input shape of a Functional or Sequential model, `None` if it has no graph."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    if len(inputs) != 1:
        raise ValueError(
            "this needs a model with a single image input; explain a model with "
            "several inputs from Python, with Explainer(model, image_input=...) and "
            f"a list or dict of its inputs. Received: a model with {len(inputs)} inputs"
        )
    return tuple(inputs[0].shape)


def _trace(model, input_shape, records: dict, constant=()) -> tuple:
    """Fill `records` from a symbolic forward pass.

    Returns:
        `(output, logit)`: the symbolic output, and the logit site or the reason
        why there is none.
    """
    events: list = []  # (record or activation name, output) in the order calls finished
    open_calls: list = []
    layers = all_layers(model)
    interceptors = without_remat([model, *layers])
    rank = len(input_shape) if isinstance(input_shape, tuple) else None
    flow = TokenPositions(rank, is_channels_first(model))
    for layer in layers:
        interceptors[call_site(layer)] = _layer_recorder(layer, records, events, open_calls, flow)
    interceptors[call_site(model)] = _layer_recorder(
        model, records, events, open_calls, flow, root=True
    )
    for module, name in activation_sites():
        interceptors[(module, name)] = _activation_recorder(name, events)

    traced = []

    def forward(batch):
        # Keras's torch backend traces again on the CPU when a trace on its "meta"
        # device fails half way: only the last attempt is recorded.
        records.clear()
        events.clear()
        open_calls.clear()
        traced.append(model(as_input_structure(model, batch), training=False))
        return traced[-1]

    def tensor(shape, kept: bool = False):  # one row, or a constant input's own rows
        return keras.KerasTensor(tuple(shape) if kept else (1,) + tuple(shape[1:]), "float32")

    spec: object
    if isinstance(input_shape, dict):
        spec = {key: tensor(shape, key in constant) for key, shape in input_shape.items()}
    elif isinstance(input_shape, list):
        spec = [tensor(shape, key in constant) for key, shape in enumerate(input_shape)]
    else:
        spec = keras.tree.map_shape_structure(tensor, input_shape)
    with capture(interceptors):
        compute_output_spec(forward, spec)
    return traced[0], find_logit_site(traced[0], events)


def _output_names(model, output) -> list:
    """The name of each output tensor, in `keras.tree.flatten` order (`None`s if unnamed)."""
    count = len(_tensors(output))
    if isinstance(output, dict):
        names = sorted(output)
    else:
        names = list(getattr(model, "output_names", None) or [])
    return names if len(names) == count else [None] * count


def _layer_recorder(layer, records, events, open_calls, flow, root: bool = False):
    def intercept(original, *args, **kwargs):
        record = records.get(id(layer))
        if record is None:
            record = records[id(layer)] = LayerRecord(None if root else layer)
        first_input = _first_tensor(args[0]) if args else None
        positions = flow.of_inputs(_tensors(args[0]) if args else [])
        children_before = len(record.children)
        if open_calls:
            parent = records[id(open_calls[-1])]
            if record.calls == 0:
                parent.children.append(record)
        open_calls.append(layer)
        try:
            output = original(*args, **kwargs)
        finally:
            open_calls.pop()
        record.calls += 1
        flow.record_outputs(_tensors(output), positions)
        if record.calls == 1:
            record.positions = positions
            tensors = _tensors(output)
            record.shapes = tuple(tuple(t.shape) for t in tensors)
            record.chain = _is_chain(record.children[children_before:], first_input, output)
            record.outputs = tuple(id(t) for t in tensors)
            record.inputs = id(first_input)
        events.append((record, output))
        return output

    return intercept


def _activation_recorder(name, events):
    def intercept(original, *args, **kwargs):
        output = original(*args, **kwargs)
        events.append((name, output))
        return output

    return intercept


def _is_chain(children, first_input, output) -> bool:
    if not children or _first_tensor(output) is None:
        return False
    expected: int | None = id(first_input)
    for child in children:
        if child.inputs != expected:
            return False
        expected = child.outputs[0] if child.outputs else None
    return expected == id(_first_tensor(output))


def _post_order(record: LayerRecord):
    for child in record.children:
        yield from _post_order(child)
    yield record


def _tensors(value) -> list:
    return [t for t in keras.tree.flatten(value) if hasattr(t, "shape")]


def _first_tensor(value):
    tensors = _tensors(value)
    return tensors[0] if tensors else None
