"""A quiet command line: the backend's start-up logs held back, warnings as lines.

The Keras backend's logs written from C++ (TensorFlow's, XLA's start-up lines)
are held back unless `--verbose`: shown only if the backend fails to import, or
on an unexpected error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings


@contextlib.contextmanager
def warnings_as_lines(command: str):
    """Show each warning (a blank map, ...) as one line in the CLI's voice, not a traceback."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"camlens {command}: warning: {one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def backend_logs_held(enabled: bool):
    """Hold back what TensorFlow, XLA and absl write from C++ to stderr during the command.

    They write to file descriptor 2 directly (at import, and when a device is
    first looked for), out of reach of Python's logging, so for the command fd 2
    goes to a temporary file while Python's own `sys.stderr` (errors, progress
    bars) stays on the terminal. `TF_CPP_MIN_LOG_LEVEL=3` (unless set) also
    quiets TensorFlow. Yields `replay()`, which writes what was held back: called
    when the backend fails to import, and on any unexpected error.
    """
    if not enabled:
        yield lambda: None
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    terminal = os.dup(2)
    python_stderr = sys.stderr
    with tempfile.TemporaryFile() as held:

        def replay() -> None:
            held.seek(0)
            os.write(terminal, held.read())

        os.dup2(held.fileno(), 2)
        if _writes_to_fd2(python_stderr):
            sys.stderr = open(terminal, "w", buffering=1, closefd=False)  # noqa: SIM115 - finally
        try:
            yield replay
        except BaseException:
            replay()
            raise
        finally:
            if sys.stderr is not python_stderr:
                sys.stderr.close()
                sys.stderr = python_stderr
            os.dup2(terminal, 2)
            os.close(terminal)


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # e.g. pytest's capture
        return False


def one_line(error) -> str:
    """An error or warning as one line of text."""
    text = " ".join(str(error).split())
    return text or type(error).__name__
