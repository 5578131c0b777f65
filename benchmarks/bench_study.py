"""Benchmark: a whole study through ``neurotwin run`` at lab scale, ``--jobs 1`` against ``--jobs 2``.

Run from the repository root (no shared data needed)::

    python benchmarks/bench_study.py                          # 100 subjects x 3 sessions (hours)
    python benchmarks/bench_study.py --subjects 10 20         # cost per subject at two sizes
    python benchmarks/bench_study.py --subjects 2 4 --minutes 1 --jobs 2   # a quick look

The study is simulated (neurotwin's simulator, written with mne-bids as
EDF): ``--subjects`` people x ``--sessions`` sessions of ``--minutes`` of
resting EEG on 32 channels of the 10-05 system at 250 Hz, alpha between 9
and 11 Hz, blinks, mains. Each size and ``--jobs`` setting runs the
default ``resting_eeg`` pipeline as a fresh ``neurotwin run`` process on a
new output folder, three times: first without the ``[twin]`` table and
without reports (the recordings' phase), then the full pipeline on the same
folder without reports (the recordings are cached, so this is the twin
phase plus a no-op pass), then with reports (the reports' phase, drawn one
subject after another, plus a no-op pass).

Printed per size and setting: wall and CPU seconds (the CPU of the process
and of every worker it waited for), both per subject; the largest
process's peak RSS (ru_maxrss of the children, i.e. the busiest worker);
the step cache's own disk use (files not shared with the derivatives) and
the derivatives', against the input EDF size (target, issue 17: cache <=
2x input). Ratios: ``--jobs 1`` / ``--jobs 2`` wall time per phase
(target >= 1.8 for the twin phase on 2 cores), and the cost per subject
of the largest size over the smallest (target: flat, ~1.0). The longest
silence of each run (the most seconds between two lines of its
``--progress lines`` output) next to the longest twin fit it reported
(target, issue 17: the terminal is never silent for more than one twin
fit). Twins that are not fitted (e.g. tvb-data missing) stop the benchmark.

Every run is one repeat: at this size a run takes minutes to hours, and the
spread between runs is reported in the README from separate calls.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ONE_THREAD

os.environ.update(ONE_THREAD)

import argparse
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHANNELS_32 = (
    "Fp1",
    "Fp2",
    "AF3",
    "AF4",
    "F7",
    "F3",
    "Fz",
    "F4",
    "F8",
    "FC5",
    "FC1",
    "FC2",
    "FC6",
    "T7",
    "C3",
    "Cz",
    "C4",
    "T8",
    "CP5",
    "CP1",
    "CP2",
    "CP6",
    "P7",
    "P3",
    "Pz",
    "P4",
    "P8",
    "PO3",
    "PO4",
    "O1",
    "Oz",
    "O2",
)


def make_study(root: Path, subjects: int, sessions: int, minutes: float, task: str = "rest") -> int:
    """Write the simulated BIDS study (resting recordings of ``task``); return the input EDFs' total bytes."""
    import datetime as dt

    import numpy as np
    from mne_bids import BIDSPath, make_dataset_description, write_raw_bids

    from neurotwin.datasets import make_resting_eeg

    rng = np.random.default_rng(0)
    for s in range(1, subjects + 1):
        alpha = rng.uniform(9.0, 11.0)
        for k in range(1, sessions + 1):
            raw = make_resting_eeg(
                duration=60.0 * minutes,
                sfreq=250.0,
                ch_names=CHANNELS_32,
                alpha_freq=alpha + rng.normal(0, 0.1),
                blink_rate=0.2,
                random_state=1000 * s + k,
            )
            raw.set_meas_date(dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=90 * (k - 1)))
            bp = BIDSPath(subject=f"{s:03d}", session=f"{k:02d}", task=task, datatype="eeg", root=root)
            write_raw_bids(raw, bp, format="EDF", allow_preload=True, overwrite=True, verbose="error")
    make_dataset_description(path=root, name="bench-study", overwrite=True, verbose="error")
    return sum(f.stat().st_size for f in root.rglob("*_eeg.edf"))


def run(args: list[str]) -> dict:
    """One ``neurotwin run`` process: wall, CPU of it and its workers, the largest peak RSS, and the
    longest time the terminal stayed silent (between two lines of ``--progress lines`` output, or
    before the first and after the last) next to the longest single twin fit it reported."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "neurotwin.cli", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stamps, lines = [t0], []
    for text in proc.stdout:
        stamps.append(time.perf_counter())
        lines.append(text)
    proc.wait()
    wall = time.perf_counter() - t0
    stamps.append(t0 + wall)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"neurotwin run failed ({proc.returncode}):\n{''.join(lines)[-3000:]}")
    fits = [float(m.group(1)) for m in map(_TWIN_LINE.search, lines) if m]
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_mib": after.ru_maxrss / 1024,
        "silence": float(max(b - a for a, b in zip(stamps, stamps[1:]))),
        "longest_twin": max(fits, default=float("nan")),
    }


#: a twin's progress line, ``[2/3] twin sub-02: ok (sessions 01,02,03, 3 fitted, 41.0 s)``
_TWIN_LINE = re.compile(r"\] twin sub-\S+: ok \(.*, ([0-9.]+) s\)")


def disk(out: Path) -> tuple[int, int]:
    """(the cache's own bytes, the derivatives' bytes)."""
    work = out / ".neurotwin" / "work"
    own = sum(f.stat().st_size for f in work.rglob("*") if f.is_file() and f.stat().st_nlink == 1)
    derivatives = sum(f.stat().st_size for f in out.glob("sub-*/**/*") if f.is_file())
    return own, derivatives


def check_twins(out: Path, n: int) -> None:
    """Stop unless every subject's twin was fitted: a skipped twin phase (e.g. tvb-data missing,
    ``pip install -e ".[tvb]"``) would otherwise be timed as a fast one."""
    import pandas as pd

    table = pd.read_csv(out / "logs" / "twins_resting_eeg.tsv", sep="\t", dtype=str).fillna("")
    bad = table[table["status"] != "ok"]
    if len(table) != n or len(bad):
        why = "; ".join(f"{r.subject}: {r.status} ({r.error or r.notes})"[:300] for r in bad.itertuples())
        raise SystemExit(f"{len(bad) or n - len(table)} of {n} twins not fitted, nothing measured: {why}")


def _per_subject(row: dict) -> float:
    return (row["rec"]["wall"] + row["twin"]["wall"] + row["pages"]["wall"]) / row["n"]


def line(row: dict) -> str:
    """One size and setting's figures."""
    n, rec, twin, pages = row["n"], row["rec"], row["twin"], row["pages"]
    peak = max(rec["peak_mib"], twin["peak_mib"], pages["peak_mib"])
    return (
        f"{n:4d} subjects --jobs {row['jobs']}: recordings {rec['wall']:.1f} s wall, "
        f"{rec['cpu']:.1f} s CPU ({rec['wall'] / n:.1f} s/subject); twins {twin['wall']:.1f} s wall, "
        f"{twin['cpu']:.1f} s CPU ({twin['wall'] / n:.1f} s/subject); reports {pages['wall']:.1f} s wall "
        f"({pages['wall'] / n:.1f} s/subject); peak {peak:.0f} MiB; "
        f"cache {row['own'] / 2**20:.1f} MiB ({row['own'] / row['input']:.2f}x input); derivatives "
        f"{row['deriv'] / 2**20:.1f} MiB; input {row['input'] / 2**20:.1f} MiB; longest silence: "
        f"recordings {rec['silence']:.1f} s, twins {twin['silence']:.1f} s (longest twin fit "
        f"{twin['longest_twin']:.1f} s), reports {pages['silence']:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[100])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", default=None, help="keep the study and outputs in this folder")
    args = parser.parse_args()
    from neurotwin.pipeline.config import BUILTIN_DIR

    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-study-"))
    pipeline = (BUILTIN_DIR / "resting_eeg.toml").read_text()
    no_twin = tmp / "resting_eeg_no_twin.toml"
    tmp.mkdir(parents=True, exist_ok=True)
    no_twin.write_text(pipeline.split("\n[twin]")[0])  # the same steps, so the second run finds them cached
    rows = []
    for n in args.subjects:
        root = tmp / f"study-{n}"
        if not root.exists():
            t0 = time.perf_counter()
            size = make_study(root, n, args.sessions, args.minutes)
            took = time.perf_counter() - t0
            print(f"{n} subjects: study simulated in {took:.0f} s ({size / 2**20:.1f} MiB EDF)", flush=True)
        size = sum(f.stat().st_size for f in root.rglob("*_eeg.edf"))
        for jobs in args.jobs:
            out = tmp / f"out-{n}-j{jobs}"
            shutil.rmtree(out, ignore_errors=True)
            common = ["run", str(root), str(out), "participant", "--jobs", str(jobs), "--progress", "lines"]
            rec = run([*common, "--pipeline", str(no_twin), "--no-reports"])
            twin = run([*common, "--pipeline", "resting_eeg", "--no-reports"])
            check_twins(out, n)
            pages = run([*common, "--pipeline", "resting_eeg"])  # (and a pass with nothing else to do)
            own, derivatives = disk(out)
            rows.append(
                {
                    "n": n,
                    "jobs": jobs,
                    "rec": rec,
                    "twin": twin,
                    "pages": pages,
                    "own": own,
                    "deriv": derivatives,
                    "input": size,
                }
            )
            print(line(rows[-1]), flush=True)
    for n in args.subjects:
        by = {r["jobs"]: r for r in rows if r["n"] == n}
        if 1 in by and 2 in by:
            rec = by[1]["rec"]["wall"] / by[2]["rec"]["wall"]
            twin = by[1]["twin"]["wall"] / by[2]["twin"]["wall"]
            print(
                f"{n} subjects, --jobs 1 / --jobs 2 wall: recordings {rec:.2f}x, twin phase {twin:.2f}x "
                f"(target >= 1.8)"
            )
    if len(args.subjects) > 1:
        lo, hi = min(args.subjects), max(args.subjects)
        for jobs in args.jobs:
            a = next(r for r in rows if r["n"] == lo and r["jobs"] == jobs)
            b = next(r for r in rows if r["n"] == hi and r["jobs"] == jobs)
            ratio = _per_subject(b) / _per_subject(a)
            print(f"--jobs {jobs}: wall per subject at {hi} / at {lo} subjects: {ratio:.2f} (target ~1)")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
