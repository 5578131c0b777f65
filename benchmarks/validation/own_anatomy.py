"""Validation: the patient's own head — recovery through a real forward model, and own vs template.

Run from the repository root (needs ../shared/data)::

    python benchmarks/validation/own_anatomy.py                # 20 synthetic patients, seed 0
    python benchmarks/validation/own_anatomy.py --patients 5

Synthetic patients are simulated through the **real forward model of the
MNE sample person**: its MEG sensors (every third of its 306, 68 planar
gradiometers and 34 magnetometers, with their coils and device-to-head
transform), its head-to-MRI transform and its one-layer BEM, with TVB's
76-region cortex fitted into its inner skull
(:class:`neurotwin.model.Anatomy`). Each patient draws the parameters of
``recovery.py`` (:func:`_synthetic.draw_theta`); two sessions' PSDs are
drawn independently from the exact Welch law of the model's sensor
cross-spectrum (60 segments each): the first is fitted, the second held
out.

Printed:

* recovery through the own head, fitted in the own head: bias, r and 90 %
  coverage per parameter (target 85-95 %);
* held-out prediction of the second session (log-PSD r and Whittle
  log-likelihood per value) by the twin in the patient's own head and by
  the template-head twin (a sphere fitted to the head points, the same
  cortex scaled into it), fitted to the same first session; next to it, the
  truth's own prediction (the ceiling: no fit can do better on average).

The sample person's real MEG is 1 s long (``sample_audvis_trunc``): too
short for a held-out half, so the real-data comparison is not made here
(its twin fits in ``tests/model/test_anatomy.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _synthetic import draw_theta
from recovery import MEG_NAMES, _meg_geometry, _summary, meg_session, meg_theta, meg_truth

import neurotwin
from neurotwin.model import Anatomy
from neurotwin.twin import Twin
from neurotwin.twin.objectives import MegSpectrumObjective

TRANS = "mne-testing-data/MEG/sample/sample_audvis_trunc-trans.fif"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    args = parser.parse_args()
    neurotwin.set_log_level("error")
    data = Path(args.data)
    anatomy = Anatomy(str(data / "mne-testing-data" / "subjects"), "sample", trans=str(data / TRANS))
    geometry, con = _meg_geometry(data)
    own = {"anatomy": anatomy}
    base = MegSpectrumObjective.build(geometry, con, Twin("syn", modality="meg", connectome=con, **own))
    template = MegSpectrumObjective.build(geometry, con, Twin("syn", modality="meg", connectome=con))
    corr = np.corrcoef(np.abs(base.lf).ravel(), np.abs(template.lf).ravel())[0, 1]
    print(
        f"neurotwin {neurotwin.__version__}: the MNE sample person's own head (seed {args.seed}), "
        f"{len(base.channels)} MEG sensors, TVB 76 regions; {base.summary['head']}; coregistration: "
        f"{base.summary['anatomy']['coregistration']}; |lead field| correlation own vs template "
        f"{corr:.3f}"
    )
    rng = np.random.default_rng(args.seed + 2)
    noise = np.random.default_rng(args.seed + 3)
    rows = {k: [] for k in MEG_NAMES}
    scores = []
    t0 = time.perf_counter()
    print(
        f"  {'patient':>7} {'own r':>7} {'tmpl r':>7} {'truth r':>7} {'own dll':>9} {'tmpl dll':>9}   "
        f"(dll: held-out Whittle log-likelihood per value minus the truth's)"
    )
    for i in range(args.patients):
        theta = meg_theta(base, draw_theta(rng))
        first, second = meg_session(base, theta, geometry, noise), meg_session(base, theta, geometry, noise)
        twin = Twin("syn", modality="meg", connectome=con, random_state=i, **own).fit(first)
        other = Twin("syn", modality="meg", connectome=con, random_state=i).fit(first)
        truth = meg_truth(base, theta, first, con, **own)
        interval = twin.states_[0].posterior.interval(0.9)
        for k in MEG_NAMES:
            rows[k].append((truth[k], *interval[k]))
        # predictions in the recording's units: each twin's from the session it was fitted to
        observed = MegSpectrumObjective.build(second, con, twin).observed().values
        row = [held_out(p, observed) for p in (twin.predict().values, other.predict().values)]
        row.append(held_out(base.predict(theta).values, observed))
        scores.append(row)
        print(
            f"  {i:>7} {row[0][0]:7.3f} {row[1][0]:7.3f} {row[2][0]:7.3f} {row[0][1] - row[2][1]:+9.4f} "
            f"{row[1][1] - row[2][1]:+9.4f}",
            flush=True,
        )
    _summary(
        f"\nrecovery through the sample person's own head, fitted in it ({args.patients} patients)",
        rows,
        t0,
        2 * args.patients,
    )
    for j, what in ((0, "log-PSD r"), (1, "log-likelihood per value")):
        own_, tmpl, top = (np.array([row[k][j] for row in scores]) for k in range(3))
        if j == 1:  # relative to the truth's (the absolute level depends on the units)
            own_, tmpl, top = own_ - top, tmpl - top, top - top
        d = own_ - tmpl
        print(
            f"  held-out {what}: own head median {np.median(own_):.4f}, template {np.median(tmpl):.4f}, "
            f"truth {np.median(top):.4f}; own - template min/median/max {d.min():+.4f} / "
            f"{np.median(d):+.4f} / {d.max():+.4f}; own better in {int(np.sum(d > 0))}/{len(d)}"
        )


def held_out(predicted: np.ndarray, observed: np.ndarray) -> tuple[float, float]:
    """Correlation of predicted and observed log-PSD, and the Whittle log-likelihood per value
    (``-(log P + O/P)``, up to a constant)."""
    p, o = np.asarray(predicted, float), np.asarray(observed, float)
    r = float(np.corrcoef(np.log(p).ravel(), np.log(o).ravel())[0, 1])
    return r, float(-np.mean(np.log(p) + o / p))


if __name__ == "__main__":
    main()
