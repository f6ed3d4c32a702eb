"""The audit's writer: damaged part files are redone, one writer per folder, a
manifest that cannot be read is refused clearly, a shard is never replaced."""

from __future__ import annotations

import json

import numpy as np
import pytest

import camlens
from camlens.audit import read_records
from camlens.audit.writer import LOCK, MANIFEST, RECORDS, ShardWriter
from camlens.demo import load_demo_model, make_dataset

OPTIONS = dict(batch_size=4, shard_size=4, report=False, progress=False)


@pytest.fixture(scope="module")
def model():
    return load_demo_model()


@pytest.fixture(scope="module")
def pairs():
    data = make_dataset(12, seed=3)
    return list(zip(data.images, data.labels))


def test_a_damaged_or_missing_part_file_is_done_again(model, pairs, tmp_path):
    out = tmp_path / "out"
    camlens.audit(model, pairs, out, **OPTIONS)
    complete = read_records(out).to_pandas()
    parts = out / RECORDS
    kept = (parts / "part-00000.parquet").stat().st_mtime_ns
    whole = (parts / "part-00001.parquet").read_bytes()
    (parts / "part-00001.parquet").write_bytes(whole[: len(whole) // 2])  # truncated
    (parts / "part-00002.parquet").unlink()  # deleted
    with pytest.warns(UserWarning, match="shard 1's part file") as caught:
        summary = camlens.audit(model, pairs, out, **OPTIONS)
    assert any("shard 2's part file" in str(w.message) for w in caught)
    assert summary.rows == 12
    records = read_records(out).to_pandas()
    assert list(records["index"]) == list(range(12))
    np.testing.assert_allclose(np.stack(records["heatmap"]), np.stack(complete["heatmap"]),
                               atol=1e-6)
    assert (parts / "part-00000.parquet").stat().st_mtime_ns == kept  # not redone
    assert json.loads((out / MANIFEST).read_text())["complete"]


def test_a_part_file_replaced_by_another_is_done_again(model, pairs, tmp_path):
    out = tmp_path / "out"
    camlens.audit(model, pairs, out, **OPTIONS)
    parts = out / RECORDS
    # As many rows, a valid Parquet file, but shard 2's records in shard 1's place.
    (parts / "part-00001.parquet").write_bytes((parts / "part-00002.parquet").read_bytes())
    with pytest.warns(UserWarning, match=r"shard 1's part file .*not the bytes written"):
        camlens.audit(model, pairs, out, **OPTIONS)
    records = read_records(out).to_pandas()
    assert list(records["index"]) == list(range(12))
    assert not records.duplicated(["index", "method", "target_kind"]).any()


def test_one_writer_at_a_time_per_folder(tmp_path):
    fingerprint = {"model": "m", "data": "d", "options": {}}
    first = ShardWriter(tmp_path / "out", fingerprint)
    with pytest.raises(ValueError, match="another camlens audit is writing into out_dir"):
        ShardWriter(tmp_path / "out", fingerprint)
    first.close()
    second = ShardWriter(tmp_path / "out", fingerprint)
    second.close()


def test_a_folder_left_with_only_the_lock_is_fresh(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / LOCK).write_text("")  # killed before its first manifest
    ShardWriter(tmp_path / "out", {"model": "m", "data": "d", "options": {}}).close()
    assert (tmp_path / "out" / MANIFEST).exists()


def test_a_manifest_that_cannot_be_read_is_refused_clearly(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / MANIFEST).write_text('{"version": 2, "shar')
    with pytest.raises(ValueError, match="manifest.json cannot be read"):
        ShardWriter(tmp_path / "out", {"model": "m", "data": "d", "options": {}})
    with pytest.raises(ValueError, match="manifest.json cannot be read"):
        read_records(tmp_path / "out")


def test_a_shard_is_never_written_twice(tmp_path):
    writer = ShardWriter(tmp_path / "out", {"model": "m", "data": "d", "options": {}})
    writer.write(0, [{"index": 0, "error": "x"}])
    with pytest.raises(RuntimeError, match="shard 0 is already written"):
        writer.write(0, [{"index": 1, "error": "y"}])
    writer.close()
    assert read_records(tmp_path / "out").column("index").to_pylist() == [0]
