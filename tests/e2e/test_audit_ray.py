"""The Ray engine against a local Ray cluster started here: the same records as
the local engine, files decoded through a keras-hub preprocessor as the local
engine decodes them, in-memory data refused. The engine's code is the same on
every backend (its actors get the driver's KERAS_BACKEND): it runs once, on the
tier's backend."""

from __future__ import annotations

import numpy as np
import pytest

import camlens
from camlens.audit import read_records
from support.audit_data import CORRUPT, demo_model_file, write_demo_folder

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_engine_refuses_in_memory_data(cluster, tmp_path):
    with pytest.raises(ValueError, match="engine='ray' audits files"):
        camlens.audit(
            demo_model_file(), np.zeros((2, 64, 64, 3), np.float32), tmp_path / "o", engine="ray"
        )


def test_ray_engine_decodes_through_a_keras_hub_preprocessor(cluster, tmp_path):
    pytest.importorskip("keras_hub")
    from PIL import Image

    from support.hub import vgg_with_preprocessor

    rng = np.random.default_rng(8)
    for n, shape in enumerate([(48, 64, 3), (64, 48, 3), (40, 40, 3)]):
        Image.fromarray(rng.integers(0, 256, shape, np.uint8)).save(tmp_path / f"{n}.png")
    model = vgg_with_preprocessor(image_size=None)  # the files are resized by size=
    options = dict(size=(32, 32), batch_size=2, shard_size=2, report=False, progress=False)
    local = camlens.audit(model, str(tmp_path / "*.png"), tmp_path / "local", **options)
    distributed = camlens.audit(
        model, str(tmp_path / "*.png"), tmp_path / "ray", engine="ray", concurrency=1, **options
    )
    mine, theirs = (read_records(s.out_dir).to_pandas() for s in (local, distributed))
    assert len(mine) == 3 and mine["error"].isna().all()
    for column in ("index", "path", "predicted", "target", "image_height", "image_width"):
        assert mine[column].equals(theirs[column]), column
    np.testing.assert_allclose(np.stack(mine["heatmap"]), np.stack(theirs["heatmap"]), atol=1e-5)
    assert list(mine["image_height"]) == [48, 64, 40]


def test_ray_engine_writes_the_records_of_the_local_engine(cluster, tmp_path):
    write_demo_folder(tmp_path / "data", 14, seed=21)
    data = tmp_path / "data" / "labels.csv"
    options = dict(target="both", batch_size=4, shard_size=6, report=False, progress=False)
    local = camlens.audit(demo_model_file(), data, tmp_path / "local", **options)
    distributed = camlens.audit(
        demo_model_file(), data, tmp_path / "ray", engine="ray", concurrency=1, **options
    )
    assert ray.is_initialized()  # the test's cluster is left running
    assert (
        (distributed.images, distributed.failures, distributed.rows)
        == (local.images, local.failures, local.rows)
        == (14 + len(CORRUPT), len(CORRUPT), 31)
    )
    mine, theirs = (read_records(s.out_dir).to_pandas() for s in (local, distributed))
    assert list(mine.columns) == list(theirs.columns)
    for column in (
        "index",
        "path",
        "label",
        "predicted",
        "method",
        "target_kind",
        "target",
        "pointing_game",
        "error",
        "shard",
        "heatmap_height",
    ):
        assert mine[column].equals(theirs[column]), column
    explained = mine["error"].isna()
    np.testing.assert_allclose(
        np.stack(mine["heatmap"][explained]), np.stack(theirs["heatmap"][explained]), atol=1e-5
    )
    for column in ("score", "predicted_score", "energy"):
        np.testing.assert_allclose(mine[column], theirs[column], rtol=1e-5, atol=1e-6)
