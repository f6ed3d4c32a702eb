"""TensorBoard image summaries written without TensorFlow.

`tensorboard.summary.Writer` writes scalars only, and tensorboard's
`EventFileWriter` opens files through `tf.io.gfile` (importing TensorFlow when
it is installed, even on the JAX and torch backends). This writer uses
tensorboard's own protos and record framing over a plain file, so it needs the
`tensorboard` package and nothing else.
"""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path


FILE_VERSION = "brain.Event:2"


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
        from tensorboard.summary.writer.record_writer import RecordWriter

        self._event_pb2 = event_pb2
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.camlens"
        self.path = Path(log_dir) / name
        self._records = RecordWriter(open(self.path, "wb"))  # closed by close()
        self._write(event_pb2.Event(wall_time=time.time(), file_version=FILE_VERSION))

    def add_image(self, tag: str, picture, step: int) -> None:
        """Add one RGB PIL image as the value of `tag` at `step`.

        Written as the classic `Summary.Image` value, which TensorBoard's image
        dashboard and its event readers (`EventAccumulator`) both take.
        """
        from tensorboard.compat.proto import summary_pb2

        picture = picture.convert("RGB")
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        image = summary_pb2.Summary.Image(
            width=picture.width, height=picture.height, colorspace=3,
            encoded_image_string=buffer.getvalue(),
        )
        event = self._event_pb2.Event(wall_time=time.time(), step=int(step))
        event.summary.value.add(tag=tag, image=image)
        self._write(event)

    def close(self) -> None:
        self._records.close()

    def _write(self, event) -> None:
        self._records.write(event.SerializeToString())
        self._records.flush()
