"""The Ray engine on a real two-node Ray cluster started here (`ray start --head`
and `ray start --address=...`, one CPU each; `support.ray_cluster`): the same
records and concepts as the local engine, an actor killed with SIGKILL part way
through an audit that still writes every image once with the same maps, files
decoded through a keras-hub preprocessor as the local engine decodes them,
in-memory data refused. The engine's code is the same on every backend (its
actors get the driver's KERAS_BACKEND): it runs once, on the tier's backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import camlens
from camlens.audit import read_records
from support.audit_data import CORRUPT, demo_model_file, write_demo_folder
from support.ray_cluster import LocalCluster

ray = pytest.importorskip("ray")

OPTIONS = dict(target="both", batch_size=2, shard_size=4, report=False, progress=False)


@pytest.fixture(scope="module")
def cluster():
    names = ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")
    previous = {name: os.environ.get(name) for name in names}
    os.environ.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")  # as the nodes
    with LocalCluster(cpus=1) as started:
        ray.init(address=started.address, include_dashboard=False, log_to_driver=False)
        try:
            assert len([n for n in ray.nodes() if n["Alive"]]) == 2
            yield started
        finally:
            ray.shutdown()
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """A demo folder, and its audit by the local engine (with concepts)."""
    folder = tmp_path_factory.mktemp("data")
    write_demo_folder(folder, 14, seed=21)
    out = tmp_path_factory.mktemp("local") / "out"
    summary = camlens.audit(demo_model_file(), folder / "labels.csv", out, concepts=2, **OPTIONS)
    return folder / "labels.csv", summary


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


def test_ray_engine_writes_the_records_and_concepts_of_the_local_engine(
    cluster, local_run, tmp_path
):
    from camlens.audit.concept_results import read_concepts

    data, local = local_run
    distributed = camlens.audit(
        demo_model_file(),
        data,
        tmp_path / "ray",
        engine="ray",
        concurrency=2,  # one actor per node
        concepts=2,
        **OPTIONS,
    )
    assert ray.is_initialized()  # the test's connection is left open
    assert (
        (distributed.images, distributed.failures, distributed.rows)
        == (local.images, local.failures, local.rows)
        == (14 + len(CORRUPT), len(CORRUPT), 31)
    )
    mine, theirs = (read_records(s.out_dir).to_pandas() for s in (local, distributed))
    assert_same_records(mine, theirs)
    (_, ours), (_, others) = (read_concepts(s.out_dir) for s in (local, distributed))
    assert sorted(ours) == sorted(others)
    for class_id in ours:
        assert ours[class_id].strongest == others[class_id].strongest
        np.testing.assert_allclose(ours[class_id].share, others[class_id].share, atol=1e-4)
    explained = mine["concepts"].notna()
    np.testing.assert_allclose(
        np.stack(mine["concepts"][explained]), np.stack(theirs["concepts"][explained]), rtol=1e-4
    )


def test_an_actor_killed_part_way_is_restarted_and_its_batch_done_again(
    cluster, local_run, tmp_path
):
    """SIGKILL to an actor's process while the audit runs (the command line, as a
    user starts it): Ray restarts the actor and retries its task; every image is
    written once, with the maps of an uninterrupted run.

    Under load the kill can land after the actor's last task, while the pool is
    shutting down, and Ray then has nothing to restart; such an audit must still be
    complete, and it is run again (at most three times) until a kill lands part way.
    """
    data, local = local_run
    expected = read_records(local.out_dir).to_pandas().drop(columns=["concept_class", "concepts"])
    restarts = []
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        restarts.append(_audit_killing_an_actor(cluster, data, out))
        records = read_records(out).to_pandas()
        assert not records.duplicated(["index", "method", "target_kind"]).any()
        assert_same_records(expected, records)
        if restarts[-1] >= 1:  # Ray restarted the killed actor (engines.ACTOR_RESTARTS)
            break
    assert restarts[-1] >= 1, f"no kill landed part way in {len(restarts)} audits"


def _audit_killing_an_actor(cluster, data, out) -> int:
    """Run the audit command, SIGKILL an actor once the first shard is written, and
    return how often Ray restarted that actor (0 where the audit ended first)."""
    from ray._private import state  # the actors' process ids, from the cluster's GCS

    command = [
        sys.executable, "-m", "camlens", "audit", str(demo_model_file()), str(data),
        "--out", str(out), "--engine", "ray", "--ray-address", cluster.address,
        "--concurrency", "2", "--target", "both", "--batch-size", "2", "--shard-size", "4",
        "--no-report",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(Path(camlens.__file__).parents[1]))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed = None
    deadline = time.monotonic() + 600
    while process.poll() is None and killed is None:
        assert time.monotonic() < deadline, "no shard written in 600 s"
        manifest = out / "manifest.json"
        if manifest.exists() and json.loads(manifest.read_text())["shards"]:
            alive = state.actors(actor_state_name="ALIVE")
            workers = [a for a in alive.values() if "MapWorker" in a["ActorClassName"]]
            if workers:
                killed = workers[0]
                os.kill(killed["Pid"], signal.SIGKILL)
        time.sleep(0.02)
    output = process.communicate(timeout=600)[0].decode()
    assert process.returncode == 0, output
    if killed is None:  # the audit ended first
        return 0
    return state.actors(killed["ActorID"])["NumRestarts"]


def assert_same_records(mine, theirs):
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
    for column in ("score", "predicted_score", "energy", "sparseness"):
        np.testing.assert_allclose(mine[column], theirs[column], rtol=1e-5, atol=1e-6)
