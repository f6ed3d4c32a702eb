"""SpRAy clusters on constructed maps with known groups (the planted watermark
that a trained model learns: e2e/test_audit_shortcut)."""

from __future__ import annotations

import numpy as np
import pytest

from camlens.audit.clusters import choose_count, cluster_maps, normalise


def test_constructed_groups_are_found():
    rng = np.random.default_rng(0)
    maps = rng.uniform(0, 0.1, (45, 8, 8))
    maps[:20, 1:3, 1:3] += 1
    maps[20:35, 5:, 5:] += 1
    maps[35:, 0:2, 6:] += 1
    found = cluster_maps(maps)
    assert len(found.mean_maps) == 3
    groups = [found.labels[:20], found.labels[20:35], found.labels[35:]]
    assert [len(set(g)) for g in groups] == [1, 1, 1]
    assert [g[0] for g in groups] == [0, 1, 2]  # numbered by size
    assert np.unravel_index(found.mean_maps[2].argmax(), (8, 8))[0] < 2
    assert found.mean_maps.max(axis=(1, 2)) == pytest.approx(1.0)


def test_one_group_stays_one_cluster():
    rng = np.random.default_rng(1)
    maps = rng.uniform(0, 0.1, (30, 8, 8))
    maps[:, 3:5, 3:5] += 1
    assert len(cluster_maps(maps).mean_maps) == 1
    assert len(cluster_maps(maps[:3]).mean_maps) == 1  # too few to split


def test_choose_count_takes_the_largest_gap_among_weak_links():
    assert choose_count(np.array([0.0, 0.01, 0.02, 0.7, 0.8])) == 3
    assert choose_count(np.array([0.0, 0.3, 0.5, 0.7])) == 1


def test_normalise_gives_unit_mass_and_keeps_zero_maps():
    maps = np.stack([np.ones((2, 2)), np.zeros((2, 2))])
    np.testing.assert_allclose(normalise(maps).sum(axis=(1, 2)), [1.0, 0.0])
