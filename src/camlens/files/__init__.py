"""The files camlens reads and writes: images and models from anywhere, outputs
written whole or not at all."""
