"""Validation: one twin of EEG and BOLD — recovery, and what a second modality adds.

Run from the repository root::

    python benchmarks/validation/joint.py               # 20 synthetic patients, seed 0
    python benchmarks/validation/joint.py --patients 5

Each synthetic patient is one network (a 20-region synthetic connectome,
:class:`_synthetic.Patient`) seen two ways: 19-channel EEG PSDs drawn from
the exact Welch law of the EEG model (its parameters drawn as in
``recovery.py``), and 1200 BOLD volumes at TR 0.72 s drawn exactly from
the BOLD model on the same connectome (per-region damping 0.02-0.2 1/s,
coupling 0.05-0.2 1/s, peaks 0.02-0.08 Hz). Session 1 has both; a year
later, session 2 has the **coupling of both models raised by half** (a
shared change, log 1.5 = 0.41 of the shared coupling ``log G - log|a|``),
and is fitted twice from the same first state: with its EEG only, and
with its EEG and BOLD (``Twin(modality="eeg+bold")``, defaults otherwise,
connection modifiers off as in ``recovery.py``'s BOLD part).

Printed:

* session 1: bias, r and 90 % coverage of the EEG parameters, BOLD's
  coupling, and the two models' shared coupling (target 85-95 %), next to
  the same figures of an EEG-only and a BOLD-only twin of the same session;
* session 2: the posterior sd of the EEG's coupling (the shared quantity)
  with EEG alone and with both, and their ratio (min/median/max over
  patients); the error of its estimated change against the true 0.41, and
  the 90 % coverage of the change, either way.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm, pearsonr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _synthetic import Patient, bold_session, draw_theta

import neurotwin
from neurotwin.features import concat
from neurotwin.twin import Twin

RISE = 1.5
Z90 = norm.ppf(0.95)


def coupling(post) -> tuple[float, float]:
    """The EEG's shared coupling ``log G - log|a|`` of a posterior: mean and sd."""
    i, j = post.names.index("G"), post.names.index("a")
    u = np.zeros(len(post.names))
    u[i], u[j] = 1.0, -1.0
    return float(u @ post.mean), float(np.sqrt(u @ post.cov @ u))


class SamplePatient:
    """A patient seen through the MNE sample person's real EEG forward model: its 60 electrodes (their
    digitised positions), its head-to-MRI transform and inner skull (``Anatomy``), TVB's 76-region
    cortex in that skull. Its shipped BEM has one layer, which EEG cannot use, so the conductor is a
    sphere fitted to its electrodes. The network is TVB's 76-region template (BOLD on the same)."""

    def __init__(self, data: Path, seed: int):
        import mne

        from neurotwin.features import compute_features
        from neurotwin.model import Anatomy, template_connectome
        from neurotwin.model.connectome import normalize_weights
        from neurotwin.twin.objectives import SpectrumObjective

        raw = mne.io.read_raw_fif(
            data / "mne-testing-data" / "SSS" / "sample_audvis_trunc_raw_sss.fif", verbose="error"
        )
        raw = raw.load_data().pick("eeg")
        con = template_connectome("tvb76", tvb_data=data / "tvb-data-3.0.0" / "tvb_data")
        self.connectome = normalize_weights(con, "max")
        self.anatomy = Anatomy(
            str(data / "mne-testing-data" / "subjects"),
            "sample",
            trans=str(data / "mne-testing-data" / "MEG" / "sample" / "sample_audvis_trunc-trans.fif"),
        )
        self.geometry = compute_features(raw, ["psd"], subject="syn", session="01")
        twin = Twin("syn", connectome=self.connectome, anatomy=self.anatomy)
        self.base = SpectrumObjective.build(self.geometry, self.connectome, twin)
        self.rng = np.random.default_rng(10_000 + seed)

    def session(self, theta: dict, session: str = "01"):
        """A FeatureSet of the exact Welch law of the model's sensor CSD (60 segments) at ``theta``."""
        from recovery import meg_session, meg_theta

        fs = meg_session(self.base, meg_theta(self.base, theta), self.geometry, self.rng)
        fs.table["session"] = session
        return fs


def patient(i: int, seed: int, head: str = "synthetic", data: Path | None = None) -> dict:
    rng = np.random.default_rng(seed * 1000 + i)
    pat = Patient(20, seed=seed * 1000 + i) if head == "synthetic" else SamplePatient(data, seed * 1000 + i)
    eeg = draw_theta(rng)
    n = len(pat.connectome.labels)
    bold = {"a": -rng.uniform(0.02, 0.2, n), "g": rng.uniform(0.05, 0.2), "f": rng.uniform(0.02, 0.08, n)}

    def sessions(scale: float, label: str):
        e = pat.session({**eeg, "G": eeg["G"] * scale}, session=label)
        b = bold_session(pat.connectome, bold["a"], bold["g"] * scale, bold["f"], rng, session=label)
        return e, b

    own = {} if head == "synthetic" else {"anatomy": pat.anatomy}
    e1, b1 = sessions(1.0, "01")
    e2, b2 = sessions(RISE, "02")
    twin = Twin("syn", modality="eeg+bold", connectome=pat.connectome, effective_connectivity=False, **own)
    twin.random_state = i
    twin.fit(concat([e1, b1]))
    first = twin.states_[0]
    # the baselines, in the same run: each modality's own twin of the same session
    alone_e = Twin("syn", connectome=pat.connectome, random_state=i, **own).fit(e1).states_[0].posterior
    alone_b = Twin("syn", modality="bold", connectome=pat.connectome, effective_connectivity=False)
    alone_b = alone_b.fit(b1).states_[0].posterior
    eeg_only = copy.deepcopy(twin).update(e2, session="02", at=365)
    both = copy.deepcopy(twin).update(concat([e2, b2]), session="02", at=365)
    q_true = np.log(eeg["G"]) - np.log(-eeg["a"])
    q1 = coupling(first.posterior)
    out = {
        "first": {
            k: (v, *first.posterior.interval(0.9)[k])
            for k, v in (("a", eeg["a"]), ("f", eeg["f"]), ("G", eeg["G"]), ("bold_G", bold["g"]))
        },
        "coupling": (q_true, q1[0], q1[0] - Z90 * q1[1], q1[0] + Z90 * q1[1]),
        "alone": {
            **{
                k: (v, *alone_e.interval(0.9)[k])
                for k, v in (("a", eeg["a"]), ("f", eeg["f"]), ("G", eeg["G"]))
            },
            "bold_G": (bold["g"], *alone_b.interval(0.9)["G"]),
        },
    }
    for name, tw in (("eeg", eeg_only), ("both", both)):
        q2 = coupling(tw.states_[1].posterior)
        # the change's own sd: the two states are correlated through the sequential update, so the
        # state-to-state difference is judged by the second state's sd (its prior held the first)
        out[name] = {"sd": q2[1], "change": q2[0] - q1[0], "covered": abs(q2[0] - q1[0] - np.log(RISE))}
        out[name]["covered"] = out[name]["covered"] <= Z90 * np.hypot(q2[1], q1[1])
    return out


def _line(name, rows, log):
    true, mid, lo, hi = map(np.asarray, zip(*rows))
    bias = np.median(np.log(np.abs(mid / true))) if log else np.median(mid - true)
    r = pearsonr(true, mid)[0] if np.std(true) > 0 else float("nan")
    cover = np.mean((lo <= true) & (true <= hi))
    kind = "log-ratio" if log else "abs"
    print(f"  {name:<22} bias {bias:+7.3f} ({kind:9})  r {r:5.2f}  90% coverage {100 * cover:5.1f} %")


def _mmm(x) -> str:
    x = np.asarray(x, float)
    return f"{x.min():.3f} / {np.median(x):.3f} / {x.max():.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--head",
        choices=("synthetic", "sample"),
        default="synthetic",
        help="synthetic: a 20-region connectome and 19 template electrodes; sample: the MNE sample "
        "person's 60 electrodes, transform and inner skull on TVB's 76 regions (needs ../shared/data)",
    )
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    args = parser.parse_args()
    neurotwin.set_log_level("error")
    print(f"neurotwin {neurotwin.__version__}: joint EEG + BOLD twin (seed {args.seed}, {args.head} head)")
    t0 = time.perf_counter()
    res = [patient(i, args.seed, args.head, Path(args.data)) for i in range(args.patients)]
    secs = (time.perf_counter() - t0) / args.patients
    what = (
        "20 regions, 19 EEG channels"
        if args.head == "synthetic"
        else "TVB's 76 regions, the sample person's 60 EEG electrodes in its own head"
    )
    print(f"{args.patients} synthetic patients ({what}, 1200 BOLD volumes), {secs:.1f} s each")
    print("session 1, the joint twin (EEG + BOLD):")
    for k, log in (("a", True), ("f", False), ("G", True), ("bold_G", True)):
        _line(k, [r["first"][k] for r in res], log)
    _line("shared coupling (EEG)", [r["coupling"] for r in res], False)
    print("session 1, each modality's own twin (the baseline):")
    for k, log in (("a", True), ("f", False), ("G", True), ("bold_G", True)):
        _line(k, [r["alone"][k] for r in res], log)
    print(f"session 2, a year later, coupling x{RISE} in both (true change {np.log(RISE):.3f}):")
    print(f"  {'':<22} {'posterior sd min/median/max':>28} {'change error, median':>22} {'90% coverage':>13}")
    for name, label in (("eeg", "EEG alone"), ("both", "EEG + BOLD")):
        sd = [r[name]["sd"] for r in res]
        err = np.median([abs(r[name]["change"] - np.log(RISE)) for r in res])
        cover = 100 * np.mean([r[name]["covered"] for r in res])
        print(f"  {label:<22} {_mmm(sd):>28} {err:22.3f} {cover:12.1f} %")
    ratio = [r["both"]["sd"] / r["eeg"]["sd"] for r in res]
    print(f"  posterior sd ratio, both / EEG alone: {_mmm(ratio)} (min / median / max)")


if __name__ == "__main__":
    main()
