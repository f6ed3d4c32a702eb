"""TensorBoard image summaries written without TensorFlow.

`tensorboard.summary.Writer` writes scalars only, and tensorboard's
`EventFileWriter` opens files through `tf.io.gfile` (importing TensorFlow when
it is installed, even on the JAX and torch backends). This writer uses
tensorboard's own protos over a plain file, in TFRecord framing, so it needs the
`tensorboard` package and nothing else.

Each record carries two CRC-32C checksums. tensorboard's own is pure Python
(about 0.3 s per MB, longer than the explanation the callback writes), so the
C implementation of `google-crc32c` (in the `tensorboard` extra) is used when it
is installed.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from pathlib import Path

FILE_VERSION = "brain.Event:2"

_CRC_MASK_DELTA = 0xA282EAD8
_files_opened = itertools.count()


def tensorboard_available() -> bool:
    """Whether the `tensorboard` package can be imported."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


class ImageSummaryWriter:
    """Appends PNG image summaries to one event file in `log_dir`.

    TensorBoard's image dashboard shows them under their tag, one per step.
    """

    def __init__(self, log_dir: Path):
        from tensorboard.compat.proto import event_pb2

        self._event_pb2 = event_pb2
        self._crc32c = _crc32c_function()
        # Unique per process and writer, as TensorFlow names them: a second fit
        # in the same second appends a file rather than truncating the first.
        name = (
            f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_files_opened)}.camlens"
        )
        self.path = Path(log_dir) / name
        self._file = open(self.path, "xb")  # noqa: SIM115 - closed by close()
        self._write(event_pb2.Event(wall_time=time.time(), file_version=FILE_VERSION))

    def add_png(self, tag: str, png: bytes, size: tuple[int, int], step: int) -> None:
        """Add one encoded PNG, of `size` (width, height) pixels, as `tag` at `step`.

        Written as the classic `Summary.Image` value, which TensorBoard's image
        dashboard and its event readers (`EventAccumulator`) both take.
        """
        from tensorboard.compat.proto import summary_pb2

        width, height = size
        image = summary_pb2.Summary.Image(
            width=width, height=height, colorspace=3, encoded_image_string=png
        )
        event = self._event_pb2.Event(wall_time=time.time(), step=int(step))
        event.summary.value.add(tag=tag, image=image)
        self._write(event)

    def close(self) -> None:
        self._file.close()

    def _write(self, event) -> None:
        """One TFRecord: length, its masked CRC, the event, the event's masked CRC."""
        data = event.SerializeToString()
        length = struct.pack("<Q", len(data))
        self._file.write(length + self._masked_crc(length) + data + self._masked_crc(data))
        self._file.flush()

    def _masked_crc(self, data: bytes) -> bytes:
        crc = self._crc32c(data)
        masked = (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF
        return struct.pack("<I", masked)


def _crc32c_function():
    """CRC-32C of bytes: `google_crc32c`'s C code when installed, else tensorboard's."""
    try:
        import google_crc32c
    except ImportError:
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c

        return crc32c
    return google_crc32c.value
