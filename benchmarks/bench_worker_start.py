"""Benchmark: how soon a fresh process simulates, with the compiled kernels on disk (warm) or not (cold).

Run from the repository root::

    python benchmarks/bench_worker_start.py [--repeats 5]

Each measured run is a new Python process (what a ``--jobs`` pool or a
Dask worker starts as) that imports :mod:`neurotwin.model` and simulates
0.1 s of a Hopf network on the 76-region template with the numba engine.
*Cold*: an empty kernel cache (``NEUROTWIN_CACHE_DIR`` a new folder), so
the kernel is compiled, as on a machine's first run. *Warm*: the cache the
cold runs left, so it is loaded. Cold and warm runs alternate. Printed per
setting, min/median/max over ``--repeats`` of: the whole process's wall
time, and the time from the end of the imports to the end of the first
simulation (the start-up a worker adds before its first result; target,
issue 17: < 2 s warm). The ratio cold / warm of the medians is the
baseline comparison.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ONE_THREAD

os.environ.update(ONE_THREAD)

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

CHILD = """
import json, time
t0 = time.perf_counter()
from neurotwin.model import simulate, template_connectome
con = template_connectome("tvb76")
t1 = time.perf_counter()
simulate("hopf", con.weights / con.weights.max(), duration=0.1, transient=0.0, engine="numba", random_state=0)
print(json.dumps({"imports": t1 - t0, "first": time.perf_counter() - t1}))
"""


def run(cache: Path) -> dict:
    env = {**os.environ, "NEUROTWIN_CACHE_DIR": str(cache)}
    env.pop("NUMBA_CACHE_DIR", None)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    got["process"] = time.perf_counter() - t0
    return got


def summary(values) -> str:
    return f"{min(values):6.2f} {statistics.median(values):6.2f} {max(values):6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            cold = Path(tmp) / f"cold{i}"
            results["cold"].append(run(cold))
            results["warm"].append(run(cold))  # the cache the cold run just wrote
    print(f"{'setting':8} {'process s (min med max)':>26} {'first simulation s (min med max)':>36}")
    for name, runs in results.items():
        print(
            f"{name:8} {summary([r['process'] for r in runs]):>26} {summary([r['first'] for r in runs]):>36}"
        )
    med = {k: statistics.median(r["first"] for r in v) for k, v in results.items()}
    print(
        f"cold / warm (first simulation, medians): {med['cold'] / med['warm']:.1f}x; "
        f"warm start-up {med['warm']:.2f} s (target < 2 s): {'met' if med['warm'] < 2 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
