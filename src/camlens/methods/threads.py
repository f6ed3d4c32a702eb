"""One BLAS thread for the small eigen-decompositions of the PCA methods.

Eigen-CAM, Eigen-Grad-CAM, KPCA-CAM and `smooth="eigen"` decompose one small
matrix per image (49 x 49 for a 7x7 layer). OpenBLAS runs LAPACK's `eigh` on
all its threads, and on a busy machine, or beside the backend's own thread
pools, waking them costs far more than the work: 15.6 ms against 0.2 ms on one
thread for a 49 x 49 matrix, measured on a loaded 2-core machine.
"""

from __future__ import annotations

from functools import cache


def one_blas_thread():
    """A context manager that holds numpy's BLAS to one thread."""
    return _controller().limit(limits=1, user_api="blas")


@cache
def _controller():
    from threadpoolctl import ThreadpoolController  # finds the BLAS numpy loaded

    return ThreadpoolController()
