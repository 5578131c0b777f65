"""Benchmark: the default feature set against calling the reference libraries directly.

Run as a script (it is not a test)::

    python benchmarks/bench_features.py            # 64 ch x 10 min x 250 Hz, 2-s epochs, 5 repeats
    python benchmarks/bench_features.py --minutes 2 --repeats 3

Cases, each in a fresh process pinned to one core with one BLAS thread,
after a warm-up on 20 s of data (imports and numba compilation are paid
once per process):

* ``direct``: what a user would write without neurotwin for the same
  numbers: ``Epochs.compute_psd`` (Welch, Hamming, 2-s segments), NumPy
  trapezoid band powers, the spectral edge and theta/beta from that PSD,
  and specparam's ``SpectralGroupModel`` on every channel plus the mean
  spectrum; the baseline;
* ``direct, SciPy Welch``: the same with ``scipy.signal.welch`` called
  once on the whole epochs array (what neurotwin does inside): the
  fairest measure of neurotwin's own overhead;
* ``neurotwin``: :func:`neurotwin.features.compute_features` with the
  default set (PSD, band power, IAF, aperiodic, spectral edge, theta/beta),
  which builds the tidy FeatureSet as well;
* ``neurotwin, all features``: adds connectivity (5 measures x 5 bands),
  orthogonalised AEC, a graph of alpha wPLI and the six complexity
  measures; reported for scale, with no baseline.

Printed: wall time min/median/max, times real time, ratio to ``direct``,
and peak RSS above the process's footprint with the data in memory.
Targets (issue 4): <= 1.2x the direct calls; >= 200x real time for the
spectral + aperiodic set on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ONE_THREAD, pin_one_core, reset_peak, status_mb

N_CH, SFREQ = 64, 250.0


def _epochs(minutes: float, seed: int = 0):
    import mne

    from neurotwin.datasets import make_resting_eeg
    from neurotwin.io import standard_montage

    names = [c for c in standard_montage().ch_names if c[-1].isdigit() or c.endswith("z")][:N_CH]
    raw = make_resting_eeg(
        duration=minutes * 60, sfreq=SFREQ, ch_names=names, line_freq=None, blink_rate=0, random_state=seed
    ).filter(1.0, 45.0, verbose="error")
    return mne.make_fixed_length_epochs(raw.pick("eeg"), duration=2.0, preload=True, verbose="error")


def direct(epochs, psd: str = "mne") -> dict:
    """The default set's numbers with MNE (or SciPy), NumPy and specparam called directly."""
    import numpy as np
    from specparam import SpectralGroupModel

    if psd == "mne":
        spec = epochs.compute_psd(
            method="welch",
            fmin=0,
            fmax=45.0,
            n_fft=500,
            n_per_seg=500,
            n_overlap=0,
            window="hamming",
            verbose="error",
        )
        f, p = spec.freqs, spec.get_data().mean(axis=0) * 1e12
    else:
        from scipy.signal import welch

        f, p = welch(
            epochs.get_data(), fs=SFREQ, window="hamming", nperseg=500, noverlap=0, detrend=False, axis=-1
        )
        p = p[..., f <= 45.0].mean(axis=0) * 1e12
        f = f[f <= 45.0]
    bands = {"delta": (1, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30), "gamma": (30, 45)}
    out = {}
    for name, (lo, hi) in bands.items():
        m = (f >= lo) & (f <= hi)
        out[name] = np.trapezoid(p[:, m], f[m], axis=-1)
    m = (f >= 1) & (f <= 45)
    total = np.trapezoid(p[:, m], f[m], axis=-1)
    out["rel"] = {k: v / total for k, v in out.items() if k in bands}
    cum = np.concatenate(
        [np.zeros((len(p), 1)), np.cumsum(np.diff(f[m]) * (p[:, m][:, 1:] + p[:, m][:, :-1]) / 2, axis=1)],
        axis=1,
    )
    out["sef"] = [np.interp(0.95 * c[-1], c, f[m]) for c in cum]
    out["tbr"] = out["theta"] / out["beta"]
    model = SpectralGroupModel(peak_width_limits=[1, 8], max_n_peaks=6, min_peak_height=0.1, verbose=False)
    model.fit(f, np.vstack([p, p.mean(axis=0)]), [2, 40])
    out["aperiodic"] = model.get_params("aperiodic")
    return out


def worker(case: str, minutes: float) -> dict:
    from neurotwin.features import DEFAULT_FEATURES, compute_features

    pin_one_core()
    everything = [*DEFAULT_FEATURES, "connectivity", "envelope_correlation", "graph", "complexity"]
    names = {"direct": None, "scipy": None, "neurotwin": list(DEFAULT_FEATURES), "all": everything}[case]

    def run(epochs):
        return (
            direct(epochs, "mne" if case == "direct" else "scipy")
            if names is None
            else compute_features(epochs, names)
        )

    run(_epochs(20 / 60, seed=1))
    epochs = _epochs(minutes)
    data_mb = len(epochs) * len(epochs.ch_names) * len(epochs.times) * 8 / 2**20
    base = status_mb("VmRSS")
    reset_peak()  # start the peak count here, with the data in memory
    t0 = time.perf_counter()
    run(epochs)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "real_s": minutes * 60,
        "peak_mb": status_mb("VmHWM") - base,
        "data_mb": data_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], float(args.worker[1]))))
        return
    import mne

    import neurotwin

    print(
        f"neurotwin {neurotwin.__version__}, MNE {mne.__version__}; {N_CH} ch x {args.minutes:g} min x "
        f"{SFREQ:g} Hz in 2-s epochs; each case pinned to one core, one BLAS thread"
    )
    print(f"  {'case':<33} {'min':>7} {'median':>7} {'max':>7}  {'x real':>7}  {'vs direct':>9}   peak RSS")
    env = {**os.environ, **ONE_THREAD}
    baseline = scipy_med = None
    for case, label, repeats in (
        ("direct", "direct calls (baseline)", args.repeats),
        ("scipy", "direct, SciPy Welch on the array", args.repeats),
        ("neurotwin", "neurotwin, default set", args.repeats),
        ("all", "neurotwin, all features", max(1, args.repeats // 2)),
    ):
        runs = []
        for _ in range(repeats):
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", case, str(args.minutes)],
                capture_output=True,
                text=True,
                env=env,
            )
            if proc.returncode:
                raise RuntimeError(f"{case} failed:\n{proc.stderr[-3000:]}")
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        secs = [r["seconds"] for r in runs]
        med = statistics.median(secs)
        baseline = med if case == "direct" else baseline
        ratio = f"{med / baseline:8.2f}x" if case != "direct" else "       - "
        if case == "scipy":
            scipy_med = med
        if case == "neurotwin":
            ratio += f" ({med / scipy_med:.2f}x SciPy)"
        peak = max(r["peak_mb"] for r in runs)
        print(
            f"  {label:<33} {min(secs):7.2f} {med:7.2f} {max(secs):7.2f}  {runs[0]['real_s'] / med:6.0f}x  "
            f"{ratio}   {peak:6.0f} MB ({peak / runs[0]['data_mb']:.1f}x the epochs array)"
        )


if __name__ == "__main__":
    main()
