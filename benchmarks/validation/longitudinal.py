"""Validation: change detection and forecasts, on synthetic patients and on real recordings.

Run from the repository root (the real part needs ``../shared/data`` or ``--data``)::

    python benchmarks/validation/longitudinal.py                      # everything, 2 processes
    python benchmarks/validation/longitudinal.py --part synthetic --patients 10
    python benchmarks/validation/longitudinal.py --part real --jobs 1
    python benchmarks/validation/longitudinal.py --part synthetic --seed 1   # the README's figures

Seed 0 was used while the change detection was built (its families, the
per-band SDs); seed 1's patients were kept out of those choices.

**Synthetic patients** (:mod:`_synthetic`: a 20-region connectome seen by
19 electrodes; every session a 2-min stationary Gaussian recording with the
model's exact cross-spectrum, cut into 2-s epochs and put through the real
feature code, standard errors included). Four sessions 90 days apart.
Between sessions the brain varies when nothing changes: the alpha
frequency by N(0, 0.1 Hz), gain and background by N(0, 10 %), the
aperiodic exponent by N(0, 0.05). Scenarios (on the same patients and the
same session-to-session variation): no change; an alpha slowing reaching
0.5 Hz and 1.0 Hz at the last session (linear from the second); an
aperiodic exponent rising by 0.3. The population's between-session SDs are
estimated, as a group run does, from the *other* patients' no-change
sessions (leave-one-out), and also shown with the built-in defaults.
Printed: the false-alarm rate per session pair, the detection rate at the
last session (by the twin's ``f``, by the IAF feature, by either), the
median detection delay (sessions after onset), and the coverage of 90 %
forecasts of the next session's ``f`` and IAF.

**Real no-change data**: every resting recording in the shared data
(EEG-MAT subjects 00-15, EEGBCI S001 R01/R02, the EEGLAB recording) cut
into three consecutive parts, each a session (the twin where it can be
placed on a head, features alone otherwise). With ``--preprocessing
pipeline`` (the default) each part goes through the default
``resting_eeg`` pipeline on its own, as a session recorded by itself
would (a part the pipeline refuses is a failed session); with
``minimal`` the recording is band-passed, average-referenced and cut into
epochs. Printed: the false-alarm rate per session pair, with the
between-session SDs (and tail shapes) of the other people's parts
(leave-one-out) and with the defaults.

**Real change** (true changes of state, reported, never tuned to):
EEGBCI S001 eyes open (R01) against eyes closed (R02), and each EEG-MAT
subject's rest (``_1``, its last minute) against mental arithmetic
(``_2``): how often a change is flagged, by the twin's ``f`` and by any test.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import mne
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _synthetic import Patient, draw_theta, recording

import neurotwin
from neurotwin.errors import NeurotwinError
from neurotwin.features import compute_features
from neurotwin.features.featureset import interpolated_channels
from neurotwin.twin import Twin, TwinState
from neurotwin.twin.longitudinal import feature_changes, population_variability

DAYS = (0.0, 90.0, 180.0, 270.0)
SCENARIOS = {
    "none": {},
    "slow 0.5 Hz": {"f": -0.5},
    "slow 1.0 Hz": {"f": -1.0},
    "exponent +0.3": {"exponent": 0.3},
}
ALPHA = ("f", "iaf")


def _features(raw, session: str):
    epochs = mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")
    return compute_features(epochs, subject="x", session=session)


def synthetic_patient(args) -> dict:
    """Every scenario's twin states of one synthetic patient (runs in a worker)."""
    i, seed = args
    neurotwin.set_log_level("error")
    patient = Patient(20, seed=seed + i)
    rng = np.random.default_rng(100_000 * (seed + 1) + i)
    base = draw_theta(rng)
    noise = [
        {
            "f": rng.normal(0, 0.1),
            "gain": rng.normal(0, 0.1),
            "background": rng.normal(0, 0.1),
            "exponent": rng.normal(0, 0.05),
        }
        for _ in DAYS
    ]

    def theta(k, change):
        th = dict(base)
        ramp = k / (len(DAYS) - 1)  # 0 at the first session, the full change at the last
        th["f"] = base["f"] + noise[k]["f"] + change.get("f", 0.0) * ramp
        th["gain"] = base["gain"] * np.exp(noise[k]["gain"])
        th["background"] = base["background"] * np.exp(noise[k]["background"])
        th["exponent"] = base["exponent"] + noise[k]["exponent"] + change.get("exponent", 0.0) * ramp
        return th

    first = Twin("syn", connectome=patient.connectome, random_state=i)
    first.fit(_features(recording(patient, theta(0, {}), seed=10 * i), "01"), session="01", at=0.0)
    out = {}
    for name, change in SCENARIOS.items():
        twin = Twin("syn", connectome=patient.connectome, random_state=i)
        twin.states_ = list(first.states_)
        for k in range(1, len(DAYS)):
            fs = _features(recording(patient, theta(k, change), seed=10 * i + k), f"0{k + 1}")
            twin.update(fs, session=f"0{k + 1}", at=DAYS[k])
        out[name] = [s.to_record() for s in twin.states_]
    return out


def _twin(records, connectome=None) -> Twin:
    twin = Twin("x", connectome=connectome)
    twin.states_ = [TwinState.from_record(*r) for r in records]
    return twin


def _alpha_flag(table, session) -> dict:
    at = table[(table["session"] == session) & table["flagged"]]
    return {
        "f": bool((at["name"] == "f").any()),
        "iaf": bool((at["name"] == "iaf").any()),
        "exponent": bool(at["name"].isin(["exponent", "aperiodic_exponent"]).any()),
        "any": bool(len(at)),
    }


def run_synthetic(n: int, seed: int, jobs: int, keep: Path | None = None) -> None:
    t0 = time.perf_counter()
    if keep is not None and keep.is_file():  # the fitted states of an earlier run
        with open(keep, "rb") as fh:
            results = pickle.load(fh)[:n]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(synthetic_patient, [(i, seed) for i in range(n)]))
        if keep is not None:
            with open(keep, "wb") as fh:
                pickle.dump(results, fh)
    print(
        f"synthetic: {n} patients x {len(SCENARIOS)} scenarios, 4 sessions each (days 0, 90, 180, 270), "
        f"seed {seed}, {time.perf_counter() - t0:.0f} s"
    )
    none = [_twin(r["none"]) for r in results]
    for label, loo in (("study estimate (leave-one-out)", True), ("built-in defaults", False)):
        print(f"  between-session SDs: {label}")
        if loo:
            example = population_variability(none[1:])
            est = {
                k: example.sd.get(k, np.nan) for k in ("f", "aperiodic_exponent:global", "iaf", "iaf:global")
            }
            print(
                f"    estimated (all but the first patient): f {est['f']:.3f} Hz (true 0.1), exponent "
                f"{est['aperiodic_exponent:global']:.3f} (mean spectrum's; model: 0.05), IAF "
                f"{est['iaf:global']:.3f} Hz (mean spectrum's), {est['iaf']:.3f} Hz (channels')"
            )
        for scen in SCENARIOS:
            flags, delays, cover = [], [], {"f": [], "iaf": []}
            for j, r in enumerate(results):
                twin = _twin(r[scen])
                twin.variability = population_variability(none[:j] + none[j + 1 :]).to_dict() if loo else None
                table = twin.changes()
                flags.append([_alpha_flag(table, f"0{k + 1}") for k in range(1, len(DAYS))])
                key = "exponent" if "exponent" in scen else "alpha"
                hit = [
                    k
                    for k, fl in enumerate(flags[-1], start=1)
                    if (fl["exponent"] if key == "exponent" else fl["f"] or fl["iaf"])
                ]
                delays.append(hit[0] if hit else np.nan)
                if loo and scen in ("none", "slow 1.0 Hz"):
                    for k in (2, 3):  # forecast session k+1 from the sessions before it
                        past = _twin(r[scen][:k])
                        past.variability = twin.variability
                        fc = past.forecast(DAYS[k]).set_index("name")
                        nxt = twin.states_[k]
                        f_next = nxt.params()["f"]
                        cover["f"].append(fc.loc["f", "low"] <= f_next <= fc.loc["f", "high"])
                        iaf = [v[3] for v in nxt.features["values"] if v[0] == "iaf" and v[1] == "global"]
                        if iaf and "iaf" in fc.index:
                            cover["iaf"].append(fc.loc["iaf", "low"] <= iaf[0] <= fc.loc["iaf", "high"])
            if scen == "none":
                pairs = [fl["any"] for per in flags for fl in per]
                alpha = [fl["f"] or fl["iaf"] for per in flags for fl in per]
                print(
                    f"    {scen:<14} false alarms per session pair: any test "
                    f"{100 * np.mean(pairs):5.1f} %, alpha (f or IAF) {100 * np.mean(alpha):5.1f} % "
                    f"({len(pairs)} pairs)"
                )
            else:
                last = [per[-1] for per in flags]
                if "exponent" in scen:
                    print(
                        f"    {scen:<14} detected at the last session: exponent (twin or feature) "
                        f"{100 * np.mean([fl['exponent'] for fl in last]):5.1f} %"
                    )
                else:
                    rate = {k: 100 * np.mean([fl[k] for fl in last]) for k in ("f", "iaf")}
                    either = 100 * np.mean([fl["f"] or fl["iaf"] for fl in last])
                    delay = np.nanmedian(delays) if np.isfinite(delays).any() else np.nan
                    print(
                        f"    {scen:<14} detected at the last session: f {rate['f']:5.1f} %, IAF "
                        f"{rate['iaf']:5.1f} %, either {either:5.1f} %; median delay {delay:.0f} "
                        f"session(s) after the first"
                    )
            if cover["f"]:
                print(
                    f"    {'':<14} 90 % forecast of the next session covers: f "
                    f"{100 * np.mean(cover['f']):5.1f} % ({len(cover['f'])}), IAF "
                    f"{100 * np.mean(cover['iaf']):5.1f} % ({len(cover['iaf'])})"
                )


# ---------------------------------------------------------------------------------------------- real
def _recordings(data: Path):
    out = [(f"eegmat-{i:02d}", data / "physionet-eegmat" / f"Subject{i:02d}_1.edf") for i in range(16)]
    out += [
        ("eegbci-R01", data / "physionet-eegbci-S001" / "S001R01.edf"),
        ("eegbci-R02", data / "physionet-eegbci-S001" / "S001R02.edf"),
        ("eeglab", data / "mne-testing-data" / "EEGLAB" / "test_raw.set"),
    ]
    return out


def _raw(path: Path):
    from neurotwin.io import read_eeg

    return read_eeg(path, verbose="error").load_data()


def _epochs(raw):
    """The minimal preprocessing: EEG channels, 1-45 Hz, average reference, 2-s epochs."""
    raw = raw.copy().pick("eeg")
    raw.filter(1.0, 45.0, verbose="error").set_eeg_reference("average", verbose="error")
    return mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")


def _sessions(raw, parts, how: str, labels):
    """Feature sets of the time ``parts`` ``[(tmin, tmax), ...]`` of ``raw``, one session each.

    ``how="pipeline"``: each part goes through the default ``resting_eeg``
    pipeline by itself, as a session recorded on its own would (its own bad
    channels, interpolation, ICA, autoreject limits and features);
    ``how="minimal"``: :func:`_epochs` of the whole recording, cut into the parts.
    """
    import neurotwin.pipeline as ntp

    if how == "pipeline":
        pipe = ntp.load("resting_eeg")
        out = {}
        for (t0, t1), ses in zip(parts, labels):
            log: list = []
            try:
                fs = pipe.process(raw.copy().crop(t0, t1, include_tmax=False), log)
            except NeurotwinError as err:  # the session fails, as it would in a study run
                out[ses] = str(err)
                continue
            fs.table["subject"], fs.table["session"] = "x", ses  # as a study run labels them
            # what read_featureset takes from a study run's step log: the interpolated channels
            fs.provenance["interpolated"] = interpolated_channels(log)
            out[ses] = fs
        return out
    ep = _epochs(raw)
    starts = ep.events[:, 0] / raw.info["sfreq"] - raw.first_time
    return {
        ses: compute_features(ep[(starts >= t0) & (starts + 2.0 <= t1 + 1e-9)], subject="x", session=ses)
        for (t0, t1), ses in zip(parts, labels)
    }


def _usable(feats: dict) -> tuple[list[str], list, str]:
    """The sessions that have features, and why the others have none."""
    failed = {ses: why for ses, why in feats.items() if isinstance(why, str)}
    sessions = [ses for ses in feats if ses not in failed]
    why = "; ".join(f"ses-{ses} failed: {why}" for ses, why in failed.items())
    return sessions, [feats[s] for s in sessions], why


def _fit(sessions, con, labels=None):
    """Twin states (or None when it cannot be placed on a head) and the feature sets."""
    twin = Twin("x", connectome=con)
    labels = labels or [f"0{k + 1}" for k in range(len(sessions))]
    try:
        for k, (fs, ses) in enumerate(zip(sessions, labels)):
            (twin.fit if k == 0 else twin.update)(fs, session=ses, at=float(int(ses) - 1))
    except NeurotwinError as err:
        return None, str(err)
    return [s.to_record() for s in twin.states_], ""


def real_nochange(args) -> dict:
    label, path, tvb, how = args
    neurotwin.set_log_level("error")
    from neurotwin.model import template_connectome

    con = template_connectome("tvb76", tvb_data=tvb)
    raw = _raw(path)
    n = int(raw.times[-1] // 6) * 2  # three parts of whole 2-s epochs
    parts = [(k * n, (k + 1) * n) for k in range(3)]
    sessions, feats, failed = _usable(_sessions(raw, parts, how, ["01", "02", "03"]))
    if len(sessions) < 2:
        return {"label": label, "states": None, "why": failed, "features": [], "sessions": sessions}
    states, why = _fit(feats, con, sessions)
    return {
        "label": label,
        "states": states,
        "why": why,
        "failed": failed,
        "features": feats,
        "sessions": sessions,
        "seconds": n,
    }


def real_change(args) -> dict:
    label, before, after, tvb, how = args
    neurotwin.set_log_level("error")
    from neurotwin.model import template_connectome

    con = template_connectome("tvb76", tvb_data=tvb)
    a, b = _raw(before), _raw(after)
    length = min(a.times[-1], b.times[-1])  # the first recording's last part, as long as the second
    found = {**_sessions(a, [(a.times[-1] - length, a.times[-1])], how, ["01"])}
    found.update(_sessions(b, [(0.0, length)], how, ["02"]))
    sessions, feats, failed = _usable(found)
    if len(sessions) < 2:
        return {"label": label, "states": None, "why": failed, "features": [], "sessions": sessions}
    states, why = _fit(feats, con)
    return {"label": label, "states": states, "why": why, "features": feats, "sessions": sessions}


def _table(res, variability):
    if res["states"] is not None:
        twin = _twin(res["states"])
        twin.variability = variability
        return twin.changes()
    return feature_changes(res["features"], variability=variability)


def run_real(data: Path, jobs: int, keep: Path | None = None, how: str = "pipeline") -> None:
    tvb = data / "tvb-data-3.0.0" / "tvb_data"
    t0 = time.perf_counter()
    if keep is not None and keep.is_file():  # the fitted states of an earlier run
        with open(keep, "rb") as fh:
            nochange, change = pickle.load(fh)
    else:
        with ProcessPoolExecutor(jobs) as pool:
            nochange = list(pool.map(real_nochange, [(lab, p, tvb, how) for lab, p in _recordings(data)]))
            pairs = [
                (
                    "eegbci R01->R02 (eyes open->closed)",
                    data / "physionet-eegbci-S001" / "S001R01.edf",
                    data / "physionet-eegbci-S001" / "S001R02.edf",
                    tvb,
                    how,
                )
            ]
            pairs += [
                (
                    f"eegmat-{i:02d} rest->arithmetic",
                    data / "physionet-eegmat" / f"Subject{i:02d}_1.edf",
                    data / "physionet-eegmat" / f"Subject{i:02d}_2.edf",
                    tvb,
                    how,
                )
                for i in range(16)
            ]
            change = list(pool.map(real_change, pairs))
        if keep is not None:
            with open(keep, "wb") as fh:
                pickle.dump((nochange, change), fh)
    done = "each part through the resting_eeg pipeline" if how == "pipeline" else "minimal preprocessing"
    print(
        f"real ({done}): "
        f"{len(nochange)} resting recordings in 3 consecutive parts; {len(change)} true changes of "
        f"state ({time.perf_counter() - t0:.0f} s)"
    )
    twins = {r["label"]: _twin(r["states"]) for r in nochange if r["states"] is not None}
    person = {lab: ("eegbci" if lab.startswith("eegbci") else lab) for lab in (r["label"] for r in nochange)}
    for r in nochange:
        if len(r["sessions"]) < 2:
            print(f"  {r['label']}: left out, fewer than 2 sessions ({r['why'][:120]})")
        elif r["states"] is None:
            print(f"  {r['label']}: twin skipped ({r['why'][:90]}...): features only")
        if r.get("failed") and len(r["sessions"]) >= 2:
            print(f"  {r['label']}: {r['failed'][:140]}")
    nochange = [r for r in nochange if len(r["sessions"]) >= 2]
    change = [r for r in change if len(r["sessions"]) >= 2]
    for label, loo in (("other people's parts (leave-one-out)", True), ("built-in defaults", False)):
        flagged, alpha, rows = [], [], []
        for r in nochange:
            others = [t for lab, t in twins.items() if person[lab] != person[r["label"]]]
            var = population_variability(others).to_dict() if loo else None
            table = _table(r, var)
            for ses in r["sessions"][1:]:
                at = table[(table["session"] == ses) & table["flagged"]]
                flagged.append(bool(len(at)))
                alpha.append(bool(at["name"].isin(ALPHA).any()))
                if len(at):
                    rows.append(
                        f"{r['label']} ses-{ses}: "
                        + ", ".join(
                            f"{a['name']}{'/' + a['location'] if a['location'] not in ('', 'global') else ''}"
                            f"{'/' + a['band'] if a['band'] else ''}"
                            for _, a in at.head(4).iterrows()
                        )
                    )
        print(
            f"  no change, between-session SDs from {label}: false alarms per session pair "
            f"{100 * np.mean(flagged):5.1f} % (any test), {100 * np.mean(alpha):5.1f} % (f or IAF), "
            f"{len(flagged)} pairs"
        )
        for line in rows:
            print(f"      {line}")
    var = population_variability(list(twins.values())).to_dict()
    print("  true changes of state (between-session SDs from the no-change parts above):")
    for r in change:
        table = _table(r, var)
        at = table[table["flagged"]]
        f_row = table[table["name"] == "f"]
        shift = "no twin"
        if len(f_row):
            f0, f1, q = f_row[["baseline", "value", "q_value"]].iloc[0]
            shift = f"f {f0:.2f} -> {f1:.2f} Hz (q {q:.2g})"
        print(f"    {r['label']:<38} flagged: {len(at):3d} of {len(table):3d} tests; {shift}")
    hits = [bool(_table(r, var)["flagged"].any()) for r in change]
    f_hits = [bool(((t := _table(r, var))["name"].eq("f") & t["flagged"]).any()) for r in change]
    print(f"  true changes flagged: any test {sum(hits)}/{len(hits)}, twin f {sum(f_hits)}/{len(f_hits)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["synthetic", "real", "all"], default="all")
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="pickle of the fits (the real part's beside it, .real.pkl): written when "
        "missing, read when present",
    )
    parser.add_argument(
        "--preprocessing",
        choices=["pipeline", "minimal"],
        default="pipeline",
        help="real parts: each through the default resting_eeg pipeline (as separate sessions would be), "
        "or band-pass, average reference and epochs only",
    )
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    args = parser.parse_args()
    neurotwin.set_log_level("error")
    print(
        f"neurotwin {neurotwin.__version__}: change detection (Benjamini-Hochberg, false discovery rate "
        f"5 % per session) and forecasts"
    )
    if args.part in ("synthetic", "all"):
        run_synthetic(args.patients, args.seed, args.jobs, args.keep)
    if args.part in ("real", "all"):
        if not args.data.is_dir():
            sys.exit(f"no shared data at {args.data}; pass --data")
        keep = args.keep.with_suffix(f".real-{args.preprocessing}.pkl") if args.keep else None
        run_real(args.data, args.jobs, keep, args.preprocessing)


if __name__ == "__main__":
    main()
