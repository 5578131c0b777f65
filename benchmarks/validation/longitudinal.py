"""Validation: detecting alpha slowing across sessions, and false alarms when nothing changes.

Run from the repository root::

    python benchmarks/validation/longitudinal.py            # 30 synthetic patients per scenario
    python benchmarks/validation/longitudinal.py --patients 10

Each synthetic patient (:mod:`_synthetic`: 20-region connectome, 19
channels, PSDs from the exact Welch sampling distribution) has three
sessions 90 days apart. Between sessions the brain also varies a little
when nothing changes: the alpha frequency by N(0, 0.1 Hz), the gain and
background by N(0, 10 %). Scenarios: no change, alpha slowing of 0.5 Hz
and of 1.0 Hz by the last session (linear). The twin is fitted to the
first session and updated with the others (default settings). Printed:
how often the alpha-frequency parameter ``f`` is flagged at the last
session (posterior probability of a change beyond 0.5 Hz > 0.95), how
often the IAF reliable-change index flags it, and for the no-change
scenario the false-alarm rate of any parameter or feature at any session.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _synthetic import Patient, draw_theta

import neurotwin
from neurotwin.twin import Twin


def run(scenario: float, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {"f": 0, "iaf": 0, "any": 0, "seconds": 0.0}
    for i in range(n):
        patient = Patient(20, seed=seed + i)
        base = draw_theta(rng)
        twin = Twin("syn", connectome=patient.connectome, random_state=i)
        t0 = time.perf_counter()
        for k, day in enumerate((0.0, 90.0, 180.0)):
            theta = dict(base)
            theta["f"] = base["f"] - scenario * k / 2 + rng.normal(0, 0.1)
            theta["gain"] = base["gain"] * np.exp(rng.normal(0, 0.1))
            theta["background"] = base["background"] * np.exp(rng.normal(0, 0.1))
            feats = patient.session(theta, session=f"0{k + 1}")
            if k == 0:
                twin.fit(feats, session="01", at=day)
            else:
                twin.update(feats, session=f"0{k + 1}", at=day)
        out["seconds"] += time.perf_counter() - t0
        ch = twin.changes()
        last = ch[ch["session"] == "03"]
        out["f"] += bool(last.query("name == 'f' and flagged").shape[0])
        out["iaf"] += bool(last.query("name == 'iaf' and flagged").shape[0])
        out["any"] += bool(ch["flagged"].any())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    neurotwin.set_log_level("error")
    n = args.patients
    print(f"neurotwin {neurotwin.__version__}: change detection over 3 sessions (days 0, 90, 180), "
          f"{n} synthetic patients per scenario")
    for scenario in (0.0, 0.5, 1.0):
        res = run(scenario, n, args.seed + int(scenario * 1000))
        label = "no change" if scenario == 0 else f"alpha slowing {scenario:.1f} Hz"
        if scenario == 0:
            print(f"  {label:<20} false alarms: f {100 * res['f'] / n:5.1f} %, "
                  f"IAF RCI {100 * res['iaf'] / n:5.1f} %, "
                  f"any parameter or feature at any session {100 * res['any'] / n:5.1f} % "
                  f"({res['seconds'] / n / 3:.1f} s a session)")
        else:
            print(f"  {label:<20} detected at session 3: f {100 * res['f'] / n:5.1f} %, "
                  f"IAF RCI {100 * res['iaf'] / n:5.1f} %")


if __name__ == "__main__":
    main()
