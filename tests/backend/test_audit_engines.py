"""The Ray engine against a local Ray cluster started here: the same records as
the local engine."""

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
