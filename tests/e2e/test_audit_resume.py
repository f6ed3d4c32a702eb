"""The audit resumes on damaged part files: a missing or replaced shard is done again."""

from __future__ import annotations

import json

import numpy as np
import pytest

import camlens
from camlens.audit import read_records
from camlens.audit.writer import MANIFEST, RECORDS
from camlens.demo import make_dataset

OPTIONS = dict(batch_size=4, shard_size=4, report=False, progress=False)


@pytest.fixture(scope="module")
def model(demo_model):
    return demo_model


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
    np.testing.assert_allclose(
        np.stack(records["heatmap"]), np.stack(complete["heatmap"]), atol=1e-6
    )
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


class _Interrupted:
    """(image, label) pairs; the first pass stops with Ctrl-C after `stop` items."""

    def __init__(self, pairs, stop: int):
        self.pairs, self.stop, self.passes = pairs, stop, 0

    def __iter__(self):
        self.passes += 1
        for n, pair in enumerate(self.pairs):
            if self.passes == 1 and n == self.stop:
                raise KeyboardInterrupt
            yield pair


def test_concepts_after_an_interruption_are_those_of_one_run(model, tmp_path):
    from camlens.audit.concept_results import read_concepts
    from camlens.audit.writer import ARRAYS

    data = make_dataset(24, seed=4)
    pairs = list(zip(data.images, data.labels))
    options = dict(OPTIONS, concepts=2, target="label")
    whole = camlens.audit(model, pairs, tmp_path / "whole", **options)
    interrupted = _Interrupted(pairs, stop=20)  # decoding runs 8 ahead: 2 shards written
    with pytest.raises(KeyboardInterrupt):
        camlens.audit(model, interrupted, tmp_path / "resumed", **options)
    assert (tmp_path / "resumed" / ARRAYS / "part-00000.arrays").exists()
    (tmp_path / "resumed" / ARRAYS / "part-00000.arrays").write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="part-00000.arrays is missing or damaged"):
        resumed = camlens.audit(model, interrupted, tmp_path / "resumed", **options)
    assert not (tmp_path / "resumed" / ARRAYS).exists()  # deleted once learned from
    (first, mine), (_, theirs) = (read_concepts(s.out_dir) for s in (whole, resumed))
    assert sorted(mine) == sorted(theirs) == sorted({int(label) for _, label in pairs})
    for class_id in mine:
        assert mine[class_id].strongest == theirs[class_id].strongest
        np.testing.assert_allclose(mine[class_id].share, theirs[class_id].share, rtol=1e-6)
        np.testing.assert_allclose(mine[class_id].mean_maps, theirs[class_id].mean_maps, rtol=1e-5)
    a, b = (read_records(s.out_dir).to_pandas() for s in (whole, resumed))
    np.testing.assert_allclose(np.stack(a["concepts"]), np.stack(b["concepts"]), rtol=1e-5)
    assert list(a["concept_class"]) == list(a["label"])


def test_a_failed_shard_write_ends_the_audit_and_the_shards_before_it_stay(
    model, pairs, tmp_path, monkeypatch
):
    from camlens.audit.writer import ShardWriter

    write = ShardWriter.write

    def failing(self, shard, records, arrays=None):
        if shard == 1:
            raise OSError(28, "No space left on device")
        write(self, shard, records, arrays)

    monkeypatch.setattr(ShardWriter, "write", failing)
    with pytest.raises(OSError, match="No space left"):
        camlens.audit(model, pairs, tmp_path / "out", **OPTIONS)
    shards = json.loads((tmp_path / "out" / MANIFEST).read_text())["shards"]
    assert sorted(shards) == ["0"]  # written in order: nothing after the failed one
    monkeypatch.undo()
    camlens.audit(model, pairs, tmp_path / "out", **OPTIONS)  # resumes from shard 1
    assert list(read_records(tmp_path / "out").to_pandas()["index"]) == list(range(12))
