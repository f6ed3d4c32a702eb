"""docs/tutorial.ipynb runs from top to bottom on this backend, with this environment's Python."""

import os
from pathlib import Path

import keras
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import camlens  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "tutorial.ipynb"
SOURCES = os.path.dirname(os.path.dirname(camlens.__file__))
KERNEL = "camlens-tests"


def test_tutorial_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the tutorial has no code cell"
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_tutorial_runs_without_error(tmp_path):
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    # a kernel spec for sys.executable in a temporary folder: the user's Jupyter config is untouched
    kernels = tmp_path / "kernels"
    write_kernel_spec(
        path=kernels / KERNEL,
        overrides={
            "display_name": "camlens tests",
            "env": {
                "KERAS_BACKEND": keras.backend.backend(),
                "PYTHONPATH": SOURCES,
                "TF_CPP_MIN_LOG_LEVEL": "2",
            },
        },
    )
    specs = KernelSpecManager(kernel_dirs=[str(kernels)])
    manager = KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        km=manager,
        timeout=900,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error

    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # several targets, the methods, the photos
