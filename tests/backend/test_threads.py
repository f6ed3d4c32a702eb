"""The PCA methods decompose their small matrices on one BLAS thread (see methods/threads.py)."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import camlens
from support.models import images


@pytest.mark.parametrize(
    "options",
    [
        {"method": "eigencam"},
        {"method": "eigengradcam"},
        {"method": "kpcacam"},
        {"method": "gradcam", "smooth": "eigen"},
    ],
)
def test_eigh_runs_on_one_blas_thread(resnet, monkeypatch, options):
    threads = []
    eigh = np.linalg.eigh

    def counting_eigh(matrix):
        threads.append(
            {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
        )
        return eigh(matrix)

    monkeypatch.setattr(np.linalg, "eigh", counting_eigh)
    with threadpool_limits(limits=2, user_api="blas"):  # as a 2-core machine's default
        camlens.Explainer(resnet, layer="conv1", **options)(images(2))
    assert threads and all(pools == {1} for pools in threads)
    assert any(pool["user_api"] == "blas" for pool in threadpool_info())
