"""ImageSummaryWriter: event files that tensorboard's own reader takes, with either CRC."""

import io
import sys

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tensorboard")

from camlens.callbacks import tensorboard as summaries  # noqa: E402
from camlens.callbacks.tensorboard import ImageSummaryWriter  # noqa: E402

CRC32C_CHECK = 0xE3069283
"""CRC-32C of b"123456789", the check value of the Castagnoli polynomial (RFC 3720)."""


@pytest.fixture(params=["google_crc32c", "tensorboard"])
def crc_implementation(request, monkeypatch):
    """Run a test with google-crc32c's C code, then with tensorboard's pure Python."""
    if request.param == "google_crc32c":
        pytest.importorskip("google_crc32c")
    else:
        monkeypatch.setitem(sys.modules, "google_crc32c", None)  # import now fails
    return request.param


def png(seed, size=(20, 12)):
    pixels = np.random.default_rng(seed).integers(0, 256, size[::-1] + (3,), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def read_images(log_dir, tag):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.IMAGES: 0}
    )
    accumulator.Reload()
    return accumulator.Images(tag)


def test_crc32c_check_value(crc_implementation):
    crc32c = summaries._crc32c_function()
    assert crc32c.__module__.split(".")[0] == crc_implementation
    assert crc32c(b"123456789") == CRC32C_CHECK


def test_images_read_back_by_tensorboard(tmp_path, crc_implementation):
    pictures = {1: png(0), 3: png(1, size=(7, 9))}
    writer = ImageSummaryWriter(tmp_path)
    for step, data in pictures.items():
        with Image.open(io.BytesIO(data)) as picture:
            writer.add_png("camlens/gradcam", data, picture.size, step=step)
    writer.close()

    events = read_images(tmp_path, "camlens/gradcam")
    assert [event.step for event in events] == [1, 3]
    for event in events:
        assert event.encoded_image_string == pictures[event.step]
        with Image.open(io.BytesIO(pictures[event.step])) as picture:
            assert (event.width, event.height) == picture.size


def test_a_damaged_record_is_refused(tmp_path):
    """The checksums are real: tensorboard's reader stops at a flipped byte."""
    writer = ImageSummaryWriter(tmp_path)
    writer.add_png("camlens/gradcam", png(0), (20, 12), step=1)
    writer.add_png("camlens/gradcam", png(1), (20, 12), step=2)
    writer.close()
    data = bytearray(writer.path.read_bytes())
    data[-40] ^= 0xFF  # inside the last event's PNG
    writer.path.write_bytes(bytes(data))

    assert [event.step for event in read_images(tmp_path, "camlens/gradcam")] == [1]


def test_two_writers_in_one_folder_keep_both_files(tmp_path):
    first, second = ImageSummaryWriter(tmp_path), ImageSummaryWriter(tmp_path)
    first.add_png("camlens/gradcam", png(0), (20, 12), step=1)
    second.add_png("camlens/gradcam", png(1), (20, 12), step=2)
    first.close()
    second.close()

    assert first.path != second.path
    assert sorted(event.step for event in read_images(tmp_path, "camlens/gradcam")) == [1, 2]
