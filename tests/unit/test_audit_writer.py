"""The audit's writer: one writer per folder, a manifest that cannot be read is
refused clearly, a shard is never replaced (damaged part files: e2e/test_audit_resume)."""

from __future__ import annotations

import pytest

from camlens.audit import read_records
from camlens.audit.writer import LOCK, MANIFEST, ShardWriter


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
