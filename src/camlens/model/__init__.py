"""The model described: its layers and outputs (`inspection`), its inputs and the
checks of a doc against them (`inputs`), its data format (`channels`), the layer
explained (`layer_choice`), a transformer's tokens as a grid (`token_grid`), the
interception of calls (`capture`) and every Keras internal relied on
(`keras_internals`)."""
