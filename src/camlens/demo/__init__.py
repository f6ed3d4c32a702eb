"""A synthetic shapes data set and a small CNN trained on it, for demos and tests."""

from camlens.demo.folder import write_folder
from camlens.demo.model import load_demo_model
from camlens.demo.shapes import CLASS_NAMES, IMAGE_SIZE, ShapesDataset, make_dataset

__all__ = [
    "CLASS_NAMES",
    "IMAGE_SIZE",
    "ShapesDataset",
    "load_demo_model",
    "make_dataset",
    "write_folder",
]
