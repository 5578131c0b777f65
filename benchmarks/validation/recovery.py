"""Validation: parameter recovery on synthetic patients (known θ -> simulate -> fit).

Run from the repository root::

    python benchmarks/validation/recovery.py              # 40 EEG patients + 20 BOLD patients
    python benchmarks/validation/recovery.py --patients 10

EEG: each patient draws parameters from plausible ranges
(:func:`_synthetic.draw_theta`), a session's PSD is drawn from the exact
Welch sampling distribution of the model's sensor cross-spectrum (19
channels, 20-region synthetic connectome, 60 segments), and the twin is
fitted with its default priors. Printed per parameter: bias (median of
fitted - true; log-ratio for positive parameters), Pearson r between true
and fitted across patients, and the coverage of the 90 % credible
intervals (target 85-95 %).

BOLD: 20-region synthetic connectome, per-region damping and the global
coupling drawn, 1200 volumes at TR 0.72 s sampled exactly from the
linear model (an Ornstein-Uhlenbeck process, discretised exactly), then
``bold_summary`` and a fit without connection modifiers; G and the mean
damping are reported the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from scipy.linalg import expm, solve_continuous_lyapunov
from scipy.stats import pearsonr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _synthetic import Patient, draw_theta

import neurotwin
from neurotwin.features.bold import bold_featureset, bold_summary
from neurotwin.twin import Twin

LOG = {"a", "G", "velocity", "gain", "background"}


def _report(name, true, mid, lo, hi):
    true, mid, lo, hi = map(np.asarray, (true, mid, lo, hi))
    if name in LOG:
        bias = np.median(np.log(np.abs(mid) / np.abs(true)))
        kind = "log-ratio"
    else:
        bias = np.median(mid - true)
        kind = "abs"
    cover = np.mean((lo <= true) & (true <= hi))
    r = pearsonr(true, mid)[0] if np.std(true) > 0 else float("nan")
    print(f"  {name:<11} bias {bias:+8.3f} ({kind:9})  r {r:5.2f}  90% coverage {100 * cover:5.1f} %")
    return cover


def eeg(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("a", "f", "G", "velocity", "gain", "background", "exponent", "knee")}
    t0 = time.perf_counter()
    for i in range(n):
        patient = Patient(20, seed=seed + i)
        theta = draw_theta(rng)
        twin = Twin("syn", connectome=patient.connectome, restarts=1, random_state=i)
        twin.fit(patient.session(theta))
        interval = twin.states_[0].posterior.interval(0.9)
        for k in rows:
            rows[k].append((theta[k], *interval[k]))
    print(
        f"EEG: {n} synthetic patients (20 regions, 19 channels, 60 Welch segments), "
        f"{(time.perf_counter() - t0) / n:.1f} s a fit"
    )
    covers = [_report(k, *zip(*v)) for k, v in rows.items()]
    print(f"  mean coverage {100 * np.mean(covers):.1f} % (target 85-95 %)")


def _bold_patient(rng, n=20, t=1200, tr=0.72):
    from neurotwin.datasets import make_connectome

    con = make_connectome(n, random_state=int(rng.integers(1 << 30)))
    w = con.weights / con.weights.max()
    a = -rng.uniform(0.02, 0.2, n)
    g = rng.uniform(0.02, 0.2)
    f = rng.uniform(0.02, 0.08, n)
    jac = np.diag(a - g * w.sum(1) + 2j * np.pi * f) + g * w
    # exact discretisation of dz = J z dt + dW (complex, unit noise per coordinate)
    q = 2 * np.eye(n)
    cov = solve_continuous_lyapunov(jac, -q.astype(complex))
    step = expm(jac * tr)
    innov = cov - step @ cov @ step.conj().T
    chol = np.linalg.cholesky((innov + innov.conj().T) / 2)

    def white():
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)

    z = np.linalg.cholesky((cov + cov.conj().T) / 2) @ white()
    xs = np.empty((t, n))
    for k in range(t):
        z = step @ z + chol @ white()
        xs[k] = z.real
    return con, {"G": g, "a_mean": a.mean()}, xs, tr


def bold(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    rows = {"G": [], "a_mean": []}
    t0 = time.perf_counter()
    for i in range(n):
        con, truth, xs, tr = _bold_patient(rng)
        labels = list(con.labels)
        fs = bold_featureset(bold_summary(xs, tr), labels, subject="syn", session="01")
        twin = Twin("syn", modality="bold", connectome=con, effective_connectivity=False, restarts=0).fit(fs)
        post = twin.states_[0].posterior
        mid, lo, hi = post.interval(0.9)["G"]
        rows["G"].append((truth["G"], mid, lo, hi))
        idx = [post.names.index(f"a[{lb}]") for lb in labels]
        # mean damping: its own interval from the posterior of log(-a) (delta method on the draws)
        draws = -np.exp(post.sample(2000, random_state=i)[:, idx]).mean(axis=1)
        rows["a_mean"].append((truth["a_mean"], float(np.median(draws)), *np.percentile(draws, [5, 95])))
    print(
        f"\nBOLD: {n} synthetic patients (20 regions, 1200 volumes at TR 0.72 s, exact OU sampling), "
        f"{(time.perf_counter() - t0) / n:.1f} s a fit"
    )
    for k, v in rows.items():
        _report("G" if k == "G" else k, *zip(*v))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    neurotwin.set_log_level("error")
    print(f"neurotwin {neurotwin.__version__}: parameter recovery (seed {args.seed})")
    eeg(args.patients, args.seed)
    bold(max(5, args.patients // 2), args.seed)


if __name__ == "__main__":
    main()
