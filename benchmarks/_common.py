"""What the benchmark scripts share: one-core pinning and peak-memory counting (Linux)."""

from __future__ import annotations

import os

#: environment for measured subprocesses: one thread in every numerical library
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


def status_mb(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``, ...) in MiB."""
    with open("/proc/self/status") as fid:
        for line in fid:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Start the peak-RSS count (``VmHWM``) afresh; ``ru_maxrss`` would include the
    parent's peak, which Linux carries across ``execve``."""
    with open("/proc/self/clear_refs", "w") as fid:
        fid.write("5")


def pin_one_core() -> None:
    """Run this process, and one BLAS thread, on one CPU core."""
    from threadpoolctl import threadpool_limits

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    threadpool_limits(1)
