"""keras-hub presets saved in a local folder load as models, with their preprocessor."""

import numpy as np
import pytest
from PIL import Image

keras_hub = pytest.importorskip("keras_hub")

import keras  # noqa: E402

from camlens.cli import main  # noqa: E402
from camlens.files.models import load_preset  # noqa: E402

CLASSES = 4


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """A small keras-hub ResNet classifier whose preprocessor resizes to 32x32 and
    scales by 1/255."""
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(32, 32, 3),
    )
    converter = keras_hub.layers.ResNetImageConverter(image_size=(32, 32), scale=1 / 255.0)
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
    classifier = keras_hub.models.ResNetImageClassifier(
        backbone, num_classes=CLASSES, preprocessor=preprocessor
    )
    folder = tmp_path_factory.mktemp("preset")
    classifier.save_to_preset(str(folder))
    return folder, classifier


@pytest.fixture
def photo(tmp_path):
    pixels = np.random.default_rng(5).integers(0, 256, (45, 60, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return path


def test_loads_the_classifier_and_its_preprocessor(preset, photo):
    folder, saved = preset
    model, preprocess = load_preset(folder)

    assert isinstance(model, keras_hub.models.ImageClassifier)
    with Image.open(photo) as image:
        doc = preprocess(image)
        raw = np.asarray(image.convert("RGB"), np.float32)[None]
    assert doc.shape == (1, 32, 32, 3) and doc.max() <= 1.0
    # keras-hub's own predict runs the preprocessor on the raw image
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(doc, training=False)),
        saved.predict(raw, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_cli_explains_with_a_preset_folder(capsys, preset, photo, tmp_path):
    folder, saved = preset
    out = tmp_path / "overlay.png"
    status = main(["explain", str(folder), str(photo), "--out", str(out)])
    captured = capsys.readouterr()

    assert status == 0, captured.err
    with Image.open(photo) as image:
        probs = saved.predict(np.asarray(image.convert("RGB"), np.float32)[None], verbose=0)[0]
    top = int(np.argmax(probs))
    assert f"class {top} score {probs[top]:.4f}" in captured.out
    with Image.open(out) as written, Image.open(photo) as image:
        assert written.size == image.size


def test_a_folder_that_is_not_a_preset(capsys, tmp_path, photo):
    empty = tmp_path / "not-a-preset"
    empty.mkdir()
    status = main(["explain", str(empty), str(photo)])
    assert status == 2 and "not a keras-hub preset" in capsys.readouterr().err
