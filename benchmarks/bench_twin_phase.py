"""Benchmark: the participant run's twin phase on one process against two (``--jobs 1`` vs ``--jobs 2``).

Run from the repository root (no shared data needed)::

    python benchmarks/bench_twin_phase.py [--subjects 6] [--repeats 3]

A simulated study (the sample study's simulator: ``--subjects`` people ×
2 sessions of 60-s 19-channel resting EEG at 128 Hz, each with a
synthetic 40-region connectome) goes through a small pipeline once
(band-pass, epochs, PSD/IAF features); then the twin phase
(:func:`neurotwin.pipeline._twins.run_twins`: every subject's fit and
update, then the study's between-session SDs and the alerts) is timed
from a fresh store, alternating ``jobs=1`` and ``jobs=2``, ``--repeats``
times each. Printed: wall seconds min/median/max per setting, the ratio
of the medians (target, issue 17: >= 1.8 on a 2-core machine), and
whether the two stores hold the same states.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ONE_THREAD

os.environ.update(ONE_THREAD)

import argparse
import datetime as dt
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

PIPELINE = """
[pipeline]
name = "bench"
modality = "eeg"

[[steps]]
step = "bandpass"
l_freq = 1.0
h_freq = 45.0

[[steps]]
step = "epochs"
length = 2.0

[[steps]]
step = "features"
features = ["psd", "iaf"]

[twin]
modality = "eeg"
connectome = "subject"
"""


def make_study(root: Path, n_subjects: int) -> Path:
    from mne_bids import BIDSPath, make_dataset_description, write_raw_bids

    from neurotwin.datasets import make_connectome, make_resting_eeg
    from neurotwin.datasets.synthetic import write_tvb_zip

    day = dt.datetime(2001, 5, 3, 9, 0, tzinfo=dt.UTC)
    for k in range(n_subjects):
        sub = f"{k + 1:02d}"
        for ses in (1, 2):
            raw = make_resting_eeg(
                duration=60.0,
                sfreq=128.0,
                alpha_freq=10.0 - 0.3 * (ses - 1) * (k % 2),
                line_freq=None,
                random_state=100 * k + ses,
            )
            raw.set_meas_date(day + dt.timedelta(days=60 * (ses - 1)))
            bp = BIDSPath(subject=sub, session=f"{ses:02d}", task="rest", datatype="eeg", root=root)
            write_raw_bids(raw, bp, format="EDF", allow_preload=True, overwrite=True, verbose="error")
        folder = root / "derivatives" / "connectomes" / f"sub-{sub}"
        folder.mkdir(parents=True)
        write_tvb_zip(make_connectome(40, random_state=k), folder / f"sub-{sub}_connectome.zip")
    make_dataset_description(path=root, name="bench", dataset_type="raw", overwrite=True, verbose="error")
    return root


def states(path: Path) -> list:
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT twin_id, idx, meta, arrays FROM states ORDER BY 1, 2").fetchall()
    out = []
    for tid, idx, meta, arrays in rows:
        meta = json.loads(meta)
        meta["diagnostics"].pop("seconds", None)
        out.append((tid, idx, json.dumps(meta, sort_keys=True), arrays))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import neurotwin.pipeline as ntp
    from neurotwin.io import discover_study
    from neurotwin.pipeline._twins import STORE_NAME, run_twins

    tmp = Path(tempfile.mkdtemp(prefix="bench-twins-"))
    try:
        root = make_study(tmp / "study", args.subjects)
        recordings, full = tmp / "recordings.toml", tmp / "bench.toml"
        recordings.write_text(PIPELINE.split("[twin]")[0])
        full.write_text(PIPELINE)
        out = tmp / "out"
        ntp.load(recordings).run(root, out, progress="off", reports=False)  # the recordings, once
        config = ntp.load(full).config
        study = discover_study(root)
        subjects = sorted(study.subjects)
        times: dict[int, list[float]] = {1: [], 2: []}
        kept = {}
        for _ in range(args.repeats):
            for jobs in (1, 2):
                store = out / STORE_NAME
                shutil.rmtree(store.parent, ignore_errors=True)
                t0 = time.perf_counter()
                table = run_twins(config, study, out, subjects, jobs=jobs)
                times[jobs].append(time.perf_counter() - t0)
                assert (table["status"] == "ok").all(), table
                kept[jobs] = states(store)
        print(
            f"twin phase, {len(subjects)} subjects x 2 sessions (wall s, {args.repeats} repeats, alternating)"
        )
        for jobs, ts in times.items():
            med = statistics.median(ts)
            print(f"  jobs={jobs}: min {min(ts):6.1f}  median {med:6.1f}  max {max(ts):6.1f}")
        ratio = statistics.median(times[1]) / statistics.median(times[2])
        print(f"  speed-up jobs=2 over jobs=1 (medians): {ratio:.2f}x  (target >= 1.8x on 2 cores)")
        print(f"  same states in both stores: {kept[1] == kept[2]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
