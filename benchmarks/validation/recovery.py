"""Validation: parameter recovery on synthetic patients (known θ -> simulate -> fit).

Run from the repository root::

    python benchmarks/validation/recovery.py              # 40 EEG, 20 MEG, 20 BOLD patients
    python benchmarks/validation/recovery.py --patients 10
    python benchmarks/validation/recovery.py --part meg   # MEG only (needs ../shared/data)

EEG: each patient draws parameters from plausible ranges
(:func:`_synthetic.draw_theta`), a session's PSD is drawn from the exact
Welch sampling distribution of the model's sensor cross-spectrum (19
channels, 20-region synthetic connectome, 60 segments), and the twin is
fitted with its default priors. Printed per parameter: bias (median of
fitted - true; log-ratio for positive parameters), Pearson r between true
and fitted across patients, and the coverage of the 90 % credible
intervals (target 85-95 %).

MEG: the MNE sample person's sensors (every third of its 306: 68 planar
gradiometers and 34 magnetometers, their real coils, device-to-head
transform and head sphere) on TVB's 76-region template cortex; each
patient draws the same parameters as for EEG (the gain and background as
ratios to the prior's level, which is set by the real recording's units),
a session's PSD is drawn from the exact Welch sampling distribution of the
MEG model's full sensor cross-spectrum (60 segments), and the twin is
fitted with its defaults.

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
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _synthetic import Patient, bold_timeseries, draw_theta

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


def _summary(title: str, rows: dict, t0: float, n: int) -> None:
    print(f"{title}, {(time.perf_counter() - t0) / n:.1f} s a fit")
    covers = [_report(k, *zip(*v)) for k, v in rows.items()]
    print(f"  mean coverage {100 * np.mean(covers):.1f} % (target 85-95 % per parameter)")


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
    _summary(f"EEG: {n} synthetic patients (20 regions, 19 channels, 60 Welch segments)", rows, t0, n)


def _meg_geometry(data):
    """Features carrying the sample person's MEG geometry (every third sensor) and the template."""
    import mne

    from neurotwin.features import compute_features
    from neurotwin.model import template_connectome
    from neurotwin.model.connectome import normalize_weights

    raw = mne.io.read_raw_fif(
        data / "mne-testing-data" / "SSS" / "sample_audvis_trunc_raw_sss.fif", verbose="error"
    ).load_data()
    picks = mne.pick_types(raw.info, meg=True)[::3]
    raw.pick([raw.ch_names[i] for i in picks])
    con = template_connectome("tvb76", tvb_data=data / "tvb-data-3.0.0" / "tvb_data")
    # the network as the twin sees it (weights scaled to a maximum of 1), so that the truth is its model's
    return compute_features(raw, ["psd"], subject="syn", session="01"), normalize_weights(con, "max")


MEG_NAMES = ("a", "f", "G", "velocity", "gain", "background", "exponent", "knee")


def meg_theta(base, draw: dict) -> np.ndarray:
    """The MEG objective's parameter vector of a patient drawn by :func:`draw_theta` (the gain and
    background as ratios to the prior's level, which the recording's units set)."""
    theta = np.array(base.prior.mean, float)
    idx = {k: base.global_index(k) for k in MEG_NAMES}
    theta[idx["a"]] = np.log(-draw["a"])
    theta[idx["f"]] = draw["f"]
    theta[idx["G"]] = np.log(draw["G"])
    theta[idx["velocity"]] = np.log(draw["velocity"])
    theta[idx["gain"]] += np.log(draw["gain"])
    theta[idx["background"]] += np.log(draw["background"] / 20.0)
    theta[idx["exponent"]] = draw["exponent"]
    theta[idx["knee"]] = np.log(draw["knee"])
    return theta


def welch_draw(csd: np.ndarray, noise: np.random.Generator, segments: int) -> np.ndarray:
    """A PSD ``(C, F)`` drawn from the exact Welch law of a cross-spectrum ``(F, C, C)``: the mean
    periodogram of ``segments`` complex Gaussian segments with that covariance."""
    n_ch = csd.shape[1]
    psd = np.empty((n_ch, len(csd)))
    for k in range(len(csd)):
        chol = np.linalg.cholesky((csd[k] + csd[k].conj().T) / 2)
        shape = (n_ch, segments)
        x = chol @ (noise.standard_normal(shape) + 1j * noise.standard_normal(shape)) / np.sqrt(2)
        psd[:, k] = np.mean(np.abs(x) ** 2, axis=1)
    return psd


def meg_session(base, theta: np.ndarray, geometry, noise: np.random.Generator, segments: int = 60):
    """A session's features: its PSD drawn from the exact Welch law of the MEG model's sensor CSD."""
    from neurotwin.features import FeatureArray, FeatureSet

    psd = welch_draw(base.sensor_csd(theta, base.freqs), noise, segments)  # the recording's units
    arrays = {k: v for k, v in geometry.arrays.items() if k != "psd"}
    arrays["psd"] = FeatureArray(
        psd, ("channel", "freq"), {"channel": base.channels, "freq": list(base.freqs)}, unit=base.unit
    )
    return FeatureSet(geometry.table.iloc[:0], arrays, {"psd": {"n_averages": segments}})


def meg_truth(base, theta: np.ndarray, fs, con, **settings) -> dict:
    """The natural-scale truth of the summary parameters, in the units of the fit of ``fs``: each sensor
    type is divided by its level in *this* session's PSD, so the aperiodic background (not the gain: it
    multiplies the lead field, divided alike) moves by the ratio of the two sessions' levels."""
    from neurotwin.twin.inference import from_unconstrained
    from neurotwin.twin.objectives import MegSpectrumObjective

    idx = {k: base.global_index(k) for k in MEG_NAMES}
    truth = {k: float(from_unconstrained(theta[idx[k]], base.prior.transforms[idx[k]])) for k in MEG_NAMES}
    session = MegSpectrumObjective.build(fs, con, Twin("syn", modality="meg", connectome=con, **settings))
    shift = np.log(base.channel_scale / session.channel_scale)
    truth["background"] *= float(np.exp(2 * shift.mean()))
    return truth


def meg(n: int, seed: int, data) -> None:
    from neurotwin.twin.objectives import MegSpectrumObjective

    geometry, con = _meg_geometry(data)
    base = MegSpectrumObjective.build(geometry, con, Twin("syn", modality="meg", connectome=con))
    rng = np.random.default_rng(seed + 2)
    noise = np.random.default_rng(seed + 3)
    rows = {k: [] for k in MEG_NAMES}
    t0 = time.perf_counter()
    for i in range(n):
        theta = meg_theta(base, draw_theta(rng))
        fs = meg_session(base, theta, geometry, noise)
        twin = Twin("syn", modality="meg", connectome=con, random_state=i).fit(fs)
        truth = meg_truth(base, theta, fs, con)
        interval = twin.states_[0].posterior.interval(0.9)
        for k in MEG_NAMES:
            rows[k].append((truth[k], *interval[k]))
    what = f"the sample person's {len(base.channels)} sensors, TVB 76 regions, 60 Welch segments"
    _summary(f"\nMEG: {n} synthetic patients ({what})", rows, t0, n)


def _bold_patient(rng, n=20, t=1200, tr=0.72):
    from neurotwin.datasets import make_connectome

    con = make_connectome(n, random_state=int(rng.integers(1 << 30)))
    w = con.weights / con.weights.max()
    a = -rng.uniform(0.02, 0.2, n)
    g = rng.uniform(0.02, 0.2)
    f = rng.uniform(0.02, 0.08, n)
    xs = bold_timeseries(w, a, g, f, rng, t=t, tr=tr)
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
    parser.add_argument("--part", choices=("eeg", "meg", "bold", "all"), default="all")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    args = parser.parse_args()
    neurotwin.set_log_level("error")
    print(f"neurotwin {neurotwin.__version__}: parameter recovery (seed {args.seed})")
    if args.part in ("eeg", "all"):
        eeg(args.patients, args.seed)
    if args.part in ("meg", "all"):
        meg(max(5, args.patients // 2), args.seed, Path(args.data))
    if args.part in ("bold", "all"):
        bold(max(5, args.patients // 2), args.seed)


if __name__ == "__main__":
    main()
