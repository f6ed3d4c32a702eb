"""Warm latency: camlens Grad-CAM vs a compiled forward pass, ELI5 0.16 and tf-keras-vis.

Usage:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/latency.py [--quick | --full]
        [--models mobilenetv2,resnet50] [--budget SECONDS]

For each model (random weights, BatchNorm calibrated, see models.py: the
keras.applications CNNs and keras-hub's ViT-Ti/16 and Swin-T) and batch
size (1 and 32), one loop calls, in turn: the model's compiled forward pass,
`camlens.Explainer(model)(x)`, and at batch 1 `camlens.explain_prediction(model,
x)`; on TensorFlow also `eli5.explain_prediction(model, x)` (batch 1 only: ELI5
explains one image) and tf-keras-vis `Gradcam(model)(CategoricalScore(ids), x)`,
for the CNNs only (neither reads a transformer's tokens).
All tools explain the same layer. After warm-up calls (two on TensorFlow: camlens
runs a one-off call eagerly and compiles on reuse; one elsewhere), each round
times every call once; the table gives the medians and ratios of medians.

Rounds stop after `--budget` seconds per row (at least 3 rounds); the `rounds`
column says how many ran. `--quick`: MobileNetV2 only, few rounds (~1 min on
TensorFlow). `--full`: more rounds and no budget.
"""

from __future__ import annotations

from functools import partial

import camlens
import models as bench


def main() -> None:
    parser = bench.argument_parser(
        __doc__, quick="MobileNetV2 only, few rounds", full="more rounds, no time budget"
    )
    parser.add_argument("--budget", type=float, default=None, help="seconds of rounds per row")
    args = parser.parse_args()
    names = bench.model_names(args.models, args.quick)
    rounds = {1: 5, 32: 3} if args.quick else {1: 31, 32: 11} if args.full else {1: 15, 32: 7}
    budget = (
        args.budget
        if args.budget is not None
        else (15.0 if args.quick else None if args.full else 60.0)
    )
    warmup = 2 if bench.backend() == "tensorflow" else 1
    bench.header("Warm latency (ms, median after warm-up, calls interleaved)", args.quick)
    print(bench.table(HEADERS, []), flush=True)
    for name in names:
        title, _, layer = bench.MODELS[name]
        model = bench.build_model(name)
        explainer = camlens.Explainer(model)
        if explainer.layer.name != layer:
            raise SystemExit(f"camlens chose {explainer.layer.name!r}, expected {layer!r}")
        forward = bench.compiled_forward(model)
        others = {} if name in bench.TRANSFORMERS else _other_tools(model, layer)
        for batch in (1, 32):
            images = bench.random_images(batch)
            top = forward(images).argmax(axis=1).tolist()
            calls = {
                "forward": partial(forward, images),
                "camlens": partial(explainer, images),
            }
            if batch == 1:
                calls["explain_prediction"] = partial(camlens.explain_prediction, model, images)
            for tool, make in others.items():
                if tool != "eli5" or batch == 1:
                    calls[tool] = make(images, top)
            medians, done = bench.interleaved(calls, rounds[batch], warmup, budget)
            print(bench.row(_row(title, batch, medians, done)), flush=True)
    print()
    print(NOTES.format(budget=f"{budget:.0f} s" if budget else "none"))


HEADERS = [
    "model",
    "batch",
    "forward",
    "camlens",
    "camlens / forward",
    "explain_prediction",
    "ELI5 0.16",
    "ELI5 / camlens",
    "tf-keras-vis",
    "tf-keras-vis / camlens",
    "rounds",
]

NOTES = """\
forward: the compiled forward pass of the same model and batch (TF tf.function,
JAX jax.jit over stateless_call, torch eager under no_grad), numpy in and out.
camlens: camlens.Explainer(model)(x), Grad-CAM of the top class, numpy maps.
explain_prediction: camlens.explain_prediction(model, x), the one-image API,
building the Explanation and its PIL image, as ELI5's does.
ELI5 / camlens: eli5.explain_prediction over camlens.explain_prediction.
tf-keras-vis / camlens: Gradcam(model)(CategoricalScore(top ids), x) over camlens
(tf-keras-vis also resizes each map to 224x224 with scipy).
Ratios are ratios of medians. Time budget per row: {budget}."""


def _other_tools(model, layer: str) -> dict:
    """ELI5 and tf-keras-vis calls, TensorFlow only, each when installed:
    name -> make(images, top) -> call."""
    if bench.backend() != "tensorflow":
        return {}
    tools = {}
    try:
        import eli5

        def eli5_call(images, top):
            return lambda: eli5.explain_prediction(model, images, layer=layer)

        tools["eli5"] = eli5_call
    except ImportError:
        pass
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return tools
    gradcam = Gradcam(model, clone=True)

    def tkv_call(images, top):
        score = CategoricalScore(top)
        return lambda: gradcam(
            score, images, penultimate_layer=layer, seek_penultimate_conv_layer=False
        )

    tools["tf-keras-vis"] = tkv_call
    return tools


def _row(title: str, batch: int, medians: dict, done: int) -> list:
    camlens_s = medians["camlens"]
    single = medians.get("explain_prediction")
    eli5_s, tkv_s = medians.get("eli5"), medians.get("tf-keras-vis")
    return [
        title,
        batch,
        bench.ms(medians["forward"]),
        bench.ms(camlens_s),
        bench.ratio(camlens_s, medians["forward"]),
        bench.ms(single),
        bench.ms(eli5_s),
        bench.ratio(eli5_s, single, 1),
        bench.ms(tkv_s),
        bench.ratio(tkv_s, camlens_s, 1),
        done,
    ]


if __name__ == "__main__":
    main()
