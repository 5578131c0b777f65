"""The compiled kernels are kept on disk and loaded by the next process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

_RUN = """
import hashlib, json
import numpy as np
from neurotwin.model import _numba, simulate
weights = np.random.default_rng(0).random((12, 12))  # no template needed: tvb-data is not a test dependency
np.fill_diagonal(weights, 0.0)
sim = simulate("hopf", weights / weights.max(), duration=0.2, transient=0.0, engine="numba", random_state=3)
kernel = _numba.kernel_for(__import__("neurotwin.model", fromlist=["Hopf"]).Hopf())
stats = getattr(kernel, "stats", None)
print(json.dumps({"hash": hashlib.sha256(sim.data.tobytes()).hexdigest(),
                  "hits": sum(stats.cache_hits.values()) if stats else 0,
                  "misses": sum(stats.cache_misses.values()) if stats else 0,
                  "module": kernel.py_func.__module__}))
"""


def _run(cache_dir) -> dict:
    env = {**os.environ, "NEUROTWIN_CACHE_DIR": str(cache_dir), "OMP_NUM_THREADS": "1"}
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", _RUN], env=env, capture_output=True, text=True)
    if out.returncode:  # show the child's traceback, not only its exit code
        pytest.fail(f"the child process failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_new_process_loads_the_kernel_instead_of_compiling_it(tmp_path):
    cold = _run(tmp_path)
    warm = _run(tmp_path)
    off = _run("")  # an empty NEUROTWIN_CACHE_DIR: compiled in memory, nothing written
    assert cold["misses"] == 1 and cold["hits"] == 0
    assert warm["hits"] == 1 and warm["misses"] == 0
    assert cold["module"].startswith("neurotwin_kernel_") and off["module"] == "neurotwin.model._kernel"
    assert cold["hash"] == warm["hash"] == off["hash"]  # the same path whichever way it was compiled
    assert len(list((tmp_path / "kernels").glob("neurotwin_kernel_*.py"))) == 1


def test_the_kernel_key_follows_the_model_source():
    from neurotwin.model import _numba
    from neurotwin.model.masses import hopf, jansen_rit

    h, j = hopf.Hopf().scalar_kernels(), jansen_rit.JansenRit().scalar_kernels()
    assert _numba.source_key(h) == _numba.source_key(h)
    assert _numba.source_key(h) != _numba.source_key(j)
    assert all(_numba._importable(f) for f in h + j)

    def local(x, prm, j):  # a model defined in a function cannot be imported by another process
        return x[0, j]

    assert not _numba._importable(local)


def test_an_unwritable_cache_falls_back_to_compiling_in_memory(tmp_path, monkeypatch):
    from neurotwin.model import _numba
    from neurotwin.model.masses import hopf

    funcs = hopf.Hopf().scalar_kernels()
    monkeypatch.delitem(sys.modules, f"neurotwin_kernel_{_numba.source_key(funcs)}", raising=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NEUROTWIN_CACHE_DIR", str(blocker))
    assert _numba.kernel_cache_dir() == blocker / "kernels"
    assert _numba._cached_kernel(funcs) is None
    monkeypatch.setenv("NEUROTWIN_CACHE_DIR", "")
    assert _numba.kernel_cache_dir() is None
