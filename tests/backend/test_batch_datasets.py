"""`explain_batch` on a Hugging Face data set: its images decoded and resized as
`camlens explain` reads files, explained as the same images given as an array."""

from __future__ import annotations

import io

import datasets
import numpy as np
from PIL import Image

import camlens
from camlens.demo import make_dataset


def test_a_dataset_gives_the_maps_of_its_images(demo_model):
    data = make_dataset(6, seed=41)
    pngs = []
    for image in data.images.astype(np.uint8):  # the model's 64x64, lossless
        buffer = io.BytesIO()
        Image.fromarray(image).resize((96, 80)).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    dataset = datasets.Dataset.from_dict(
        {"image": [{"bytes": b, "path": None} for b in pngs], "label": data.labels.tolist()},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")}),
    )
    # The reference: each PNG decoded and resized back to 64x64 by PIL, as a file is.
    expected_images = np.stack(
        [
            np.asarray(
                Image.open(io.BytesIO(b))
                .convert("RGB")
                .resize((64, 64), Image.Resampling.BILINEAR),
                np.float32,
            )
            for b in pngs
        ]
    )
    maps = camlens.explain_batch(demo_model, dataset, targets=data.labels, batch_size=4)
    expected = camlens.Explainer(demo_model)(expected_images, targets=data.labels)
    np.testing.assert_allclose(maps.heatmaps, expected.heatmaps, atol=1e-5)
    np.testing.assert_array_equal(maps.targets[:, 0], data.labels)
