"""Loads the small CNN trained on the synthetic shapes (see `camlens.demo.shapes`)."""

from __future__ import annotations

from importlib import resources

MODEL_FILE = "demo_model.keras"


def load_demo_model():
    """Loads the shipped demo model (works with any Keras 3 backend).

    The model maps `(batch, 64, 64, 3)` RGB images with values in `[0, 255]` to
    `(batch, len(CLASS_NAMES))` softmax probabilities. Its last conv layer is
    named `"last_conv"` (a 16x16 map) and its output layer `"predictions"`.

    Returns:
        An uncompiled `keras.Model`.
    """
    import keras

    model_file = resources.files("camlens.demo").joinpath(MODEL_FILE)
    with resources.as_file(model_file) as path:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
