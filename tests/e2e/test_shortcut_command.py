"""`camlens demo --shortcut DIR` end to end on a small budget: it writes the
held-out images with their badges, trains and saves the model, audits the
held-out images with concepts, and prints what it found. (Whether the model
takes the shortcut at full size is what the docs' figures report; the audit's
finding of a planted shortcut is `test_audit_shortcut.py`.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from camlens.audit import read_records
from camlens.audit.concept_results import read_concepts
from camlens.demo import CLASS_NAMES
from camlens.demo.shortcut import SHORTCUT_CLASS, add_badge
from support.cli import run


def test_the_shortcut_demo_trains_audits_and_reports_its_concepts(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("camlens.demo.shortcut.TRAIN_IMAGES", 64)
    monkeypatch.setattr("camlens.demo.shortcut.HELD_OUT_IMAGES", 60)
    status, stdout, stderr = run(capsys, "demo", "--shortcut", tmp_path / "demo")
    assert status == 0, stderr

    held_out = pd.read_csv(tmp_path / "demo" / "held-out" / "labels.csv")
    assert len(held_out) == 60 and (tmp_path / "demo" / "shortcut_model.keras").exists()
    ours = held_out["label"] == SHORTCUT_CLASS
    assert not held_out["badge"][~ours].any() and held_out["badge"][ours].any()
    images = np.stack(
        [np.asarray(Image.open(tmp_path / "demo" / "held-out" / p)) for p in held_out["path"]]
    ).astype(np.float32)
    badged = np.all(images == add_badge(images), axis=(1, 2, 3))  # the PNGs carry it as listed
    np.testing.assert_array_equal(badged, held_out["badge"].to_numpy(bool))
    records = read_records(tmp_path / "demo" / "audit").to_pandas()
    assert sorted(records["index"]) == list(range(60))
    assert (records["target"] == records["label"]).all()  # concepts and maps of the label
    summary, per_class = read_concepts(tmp_path / "demo" / "audit")
    assert summary["kind"] == "label" and SHORTCUT_CLASS in per_class

    name = CLASS_NAMES[SHORTCUT_CLASS]
    assert f"'{name}' with the badge" in stdout and "without it" in stdout
    shares = per_class[SHORTCUT_CLASS].share
    for rank, share in enumerate(shares, 1):
        assert f"'{name}' concept {rank}: {share:.0%} of the class score" in stdout
    assert np.isclose(np.abs(shares).sum(), 1)
    assert "report.html" in stdout
