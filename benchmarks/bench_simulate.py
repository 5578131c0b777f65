"""Benchmark: network simulation steps/s against TVB's simulator, the BLAS roofline, and the closed form.

Run as a script (it is not a test), in an environment that also has TVB
(never a neurotwin dependency: GPL, and heavy)::

    python -m venv bench-env && bench-env/bin/pip install -e '.[fast,tvb]' tvb-library
    bench-env/bin/python benchmarks/bench_simulate.py            # about 5 minutes
    bench-env/bin/python benchmarks/bench_simulate.py --full     # every case 10 s simulated

Without ``tvb-library`` the TVB rows are skipped with a note. The process
pins itself to one core with one BLAS/numba thread; numba compilation and
TVB's configuration happen in a warm-up before timing.

Networks (delays up to 50 ms: the conduction velocity is the longest
tract / 50 ms):

* ``76 regions``: TVB's 76-region template (``tvb-data``), weights / max;
* ``1000 regions``: random sparse, symmetric, mean degree 30, centres drawn
  in a brain-sized ellipsoid and tract lengths their distances (seed 0).

Model: Stuart-Landau (Hopf) nodes with difference coupling
``G Σ w_ij (z_j(t - τ_ij) - z_i)``, additive noise, stochastic Heun,
dt = 0.1 ms, output every 1 ms. TVB runs the same equations (``SupHopf``,
``Difference`` coupling, ``HeunStochastic``, ``SubSample`` monitor) with
the parameters converted to its millisecond units; both outputs' spectral
peaks are printed to show they are the same dynamics.

Printed per case: simulated seconds, wall time min/median/max over
repeats, steps/s and region-steps/s (N x K steps/s), and the ratio to TVB.
Roofline: one dense N x N matrix-vector (K = 1) or matrix-matrix (K = 64,
two coupled variables) product per step is what an undelayed network's
coupling costs with BLAS; its steps/s is printed next to ours with the
flop rates. Closed form: :func:`neurotwin.model.hopf_csd` (the full CSD)
and :func:`neurotwin.model.hopf_psd` (its diagonal, what the EEG twin
fits) for the 76-region network with delays, 1-45 Hz by 0.5 Hz (the
features' Welch grid of 2-s epochs) and by 0.25 Hz.

Targets (issue 5): >= 20x TVB steps/s at K = 1; K = 64 at >= 10x the
region-steps/s of K = 1; the closed-form spectrum of 76 regions <= 50 ms.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ONE_THREAD

os.environ.update(ONE_THREAD)  # before NumPy and numba load

import argparse
import importlib.util
import statistics
import time
import warnings
from functools import partial

import numpy as np
from _common import pin_one_core

DT_MS = 0.1
MAX_DELAY_MS = 50.0
PARAMS = {"a": -5.0, "f": 10.0, "G": 2.0, "sigma": 0.05}  # per second; TVB gets them per ms


def tvb76():
    from neurotwin.model import template_connectome

    con = template_connectome("tvb76")
    return con.weights / con.weights.max(), con.tract_lengths


def random_sparse(n: int = 1000, degree: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-1, 1, (3 * n, 3)) * [70.0, 85.0, 60.0]
    centres = centres[((centres / [70.0, 85.0, 60.0]) ** 2).sum(axis=1) <= 1][:n]
    upper = np.triu(rng.uniform(size=(n, n)) < degree / (n - 1), 1)
    w = np.where(upper, rng.uniform(0.0, 1.0, (n, n)), 0.0)
    w = w + w.T
    lengths = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    return w / w.max(), lengths


def ours(w, delays_ms, duration, batch, engine="numba"):
    from neurotwin.model import simulate

    params = dict(PARAMS)
    if batch > 1:
        params["a"] = np.linspace(-6.0, -4.0, batch)  # K different parameter sets
    t0 = time.perf_counter()
    sim = simulate(
        "hopf",
        w,
        params,
        delays_ms=delays_ms,
        duration=duration,
        dt=DT_MS / 1000,
        transient=0.0,
        decimate=10,
        engine=engine,
        random_state=0,
    )
    return time.perf_counter() - t0, sim.data[0], sim.sfreq


def tvb_run(w, lengths, velocity, duration):
    from tvb.datatypes import connectivity
    from tvb.simulator import coupling, integrators, models, monitors, noise, simulator

    n = len(w)
    conn = connectivity.Connectivity(
        weights=w,
        tract_lengths=lengths,
        region_labels=np.array([f"r{i}" for i in range(n)]),
        centres=np.zeros((n, 3)),
        speed=np.array([velocity]),
    )
    conn.configure()

    class SupHopf(models.SupHopf):
        # tvb-library 2.10's numba gufunc for SupHopf returns NaN for every other region with
        # numba 0.68 (seen here); TVB's own NumPy form of the same equations is correct
        def dfun(self, x, c, local_coupling=0.0):
            return self._numpy_dfun(x, c, local_coupling)

    model = SupHopf(a=np.array([PARAMS["a"] / 1000]), omega=np.array([2 * np.pi * PARAMS["f"] / 1000]))
    sim = simulator.Simulator(
        model=model,
        connectivity=conn,
        coupling=coupling.Difference(a=np.array([PARAMS["G"] / 1000])),
        integrator=integrators.HeunStochastic(
            dt=DT_MS, noise=noise.Additive(nsig=np.array([PARAMS["sigma"] ** 2 / 2 / 1000]))
        ),
        monitors=(monitors.SubSample(period=1.0),),
        simulation_length=duration * 1000,
        # TVB's default start (x, y uniform in +-5) diverges at dt = 0.1 ms with these parameters;
        # start near the fixed point, as neurotwin does
        initial_conditions=0.01
        * np.random.default_rng(0).standard_normal((int(np.rint(conn.delays.max() / DT_MS)) + 1, 2, n, 1)),
    )
    sim.configure()
    t0 = time.perf_counter()
    ((_, data),) = sim.run()
    seconds = time.perf_counter() - t0
    if not np.isfinite(data).all():
        raise RuntimeError("TVB's simulation gave non-finite values")
    return seconds, data[:, 0, :, 0], 1000.0


def peak(x, sfreq):
    from scipy.signal import welch

    f, p = welch(x.T, fs=sfreq, nperseg=min(len(x), int(2 * sfreq)))
    return f[np.argmax(p.mean(axis=0))]


def timed(fn, repeats):
    runs = [fn() for _ in range(repeats)]
    secs = [r[0] for r in runs]
    return secs, runs[-1]


def roofline(n, batch, repeats=20):
    """Seconds per dense coupling product: an N x N matrix times the 2K coupled variables.

    For K = 1 that is two matrix-vector products (memory-bound: GEMV), for
    K = 64 a matrix-matrix product (GEMM).
    """
    rng = np.random.default_rng(0)
    a = rng.random((n, n))
    x = rng.random((n, 2 * batch))
    for _ in range(3):
        a @ x
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ x
    return (time.perf_counter() - t0) / repeats, 2 * n * n * 2 * batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="simulate 10 s in every case (long)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pin_one_core()
    warnings.filterwarnings("ignore")
    import neurotwin

    have_tvb = importlib.util.find_spec("tvb") is not None
    tvb_version = "not installed (pip install tvb-library in this environment)"
    if have_tvb:
        from importlib.metadata import version

        tvb_version = version("tvb-library")
    print(
        f"neurotwin {neurotwin.__version__}, NumPy {np.__version__}, TVB {tvb_version}; one core, "
        f"one thread; dt {DT_MS} ms, delays <= {MAX_DELAY_MS:g} ms, Heun, output every 1 ms; "
        f"{args.repeats} repeats"
    )
    long = 10.0
    plan = {
        "76 regions": (tvb76, {"k1": long, "k64": long if args.full else 2.0, "numpy": 0.5, "tvb": long}),
        "1000 regions": (
            random_sparse,
            {
                "k1": long if args.full else 2.0,
                "k64": long if args.full else 0.2,
                "numpy": 0.05,
                "tvb": long if args.full else 0.2,
            },
        ),
    }
    for name, (make, dur) in plan.items():
        w, lengths = make()
        n = len(w)
        velocity = lengths[w > 0].max() / MAX_DELAY_MS  # mm/ms = m/s
        delays = lengths / velocity
        nnz = int(np.count_nonzero(w))
        print(
            f"\n{name}: {nnz} connections (mean degree {nnz / n:.0f}), velocity {velocity:.2f} m/s, "
            f"longest delay {delays[w > 0].max():.1f} ms"
        )
        print(
            f"  {'case':<34} {'sim s':>5} {'min':>7} {'median':>7} {'max':>7} {'steps/s':>9} "
            f"{'region-steps/s':>14}  {'vs TVB':>7}  peak Hz"
        )
        ours(w, delays, 0.01, 1)  # compile and warm up
        ours(w, delays, 0.01, 64)
        rows = {}
        cases = [
            ("neurotwin numba, K = 1", partial(ours, w, delays, dur["k1"], 1), dur["k1"], 1),
            ("neurotwin numba, K = 64", partial(ours, w, delays, dur["k64"], 64), dur["k64"], 64),
            (
                "neurotwin NumPy engine, K = 1",
                partial(ours, w, delays, dur["numpy"], 1, "numpy"),
                dur["numpy"],
                1,
            ),
        ]
        if have_tvb:
            tvb_run(w, lengths, velocity, 0.01)
            cases.insert(
                0,
                (
                    "TVB simulator (baseline)",
                    partial(tvb_run, w, lengths, velocity, dur["tvb"]),
                    dur["tvb"],
                    1,
                ),
            )
        for label, fn, sim_s, k in cases:
            secs, (_, data, sfreq) = timed(fn, args.repeats)
            med = statistics.median(secs)
            steps = sim_s * 1000 / DT_MS / med
            rows[label] = steps
            base = rows.get("TVB simulator (baseline)")
            ratio = f"{steps / base:6.1f}x" if base and not label.startswith("TVB") else "      -"
            pk = f"{peak(data, sfreq):5.1f}" if sim_s >= 1.0 else "    -"
            print(
                f"  {label:<34} {sim_s:5.2g} {min(secs):7.3f} {med:7.3f} {max(secs):7.3f} {steps:9.0f} "
                f"{steps * n * k:14.3g}  {ratio}  {pk}"
            )
        k1, k64 = rows["neurotwin numba, K = 1"], rows["neurotwin numba, K = 64"]
        print(f"  batching: K = 64 gives {64 * k64 / k1:.1f}x the region-steps/s of K = 1")
        for k, steps in ((1, k1), (64, k64)):
            sec, flops = roofline(n, k)
            ours_flops = 2 * nnz * 2 * k * steps
            print(
                f"  roofline K = {k:<2}: one dense {'GEMV' if k == 1 else 'GEMM'} per step = "
                f"{1 / sec:9.0f} steps/s ({flops / sec / 1e9:5.1f} GFLOP/s dense); ours "
                f"{steps:9.0f} steps/s ({ours_flops / 1e9:5.2f} GFLOP/s on the {nnz} delayed connections, "
                f"{steps * sec:.2f}x the dense product's rate)"
            )
    from neurotwin.model import hopf_csd, hopf_psd

    w, lengths = tvb76()
    delays = lengths / (lengths[w > 0].max() / MAX_DELAY_MS)
    params = {"a": PARAMS["a"], "f": PARAMS["f"], "G": PARAMS["G"], "sigma": PARAMS["sigma"]}
    print("\nclosed form, 76 regions with delays (target <= 50 ms):")
    for step in (0.5, 0.25):
        freqs = np.arange(1.0, 45.0 + step / 2, step)
        for label, fn in (("full 76 x 76 CSD", hopf_csd), ("PSD (the CSD's diagonal)", hopf_psd)):
            fn(w, freqs, params, delays_ms=delays)
            secs = []
            for _ in range(max(5, args.repeats)):
                t0 = time.perf_counter()
                fn(w, freqs, params, delays_ms=delays)
                secs.append(time.perf_counter() - t0)
            print(
                f"  {label:<25} {len(freqs):3d} frequencies (1-45 Hz by {step} Hz): min "
                f"{min(secs) * 1e3:6.1f} ms, median {statistics.median(secs) * 1e3:6.1f} ms, max "
                f"{max(secs) * 1e3:6.1f} ms"
            )


if __name__ == "__main__":
    main()
