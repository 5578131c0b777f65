"""Benchmark: ``neurotwin run`` against MNE-BIDS-Pipeline on the same simulated BIDS study.

MNE-BIDS-Pipeline is not a dependency of neurotwin (it pins its own MNE and
tools), so it runs from an environment of its own::

    python -m venv /tmp/mbp && /tmp/mbp/bin/pip install "mne-bids-pipeline==1.10.1" python-picard
    python benchmarks/bench_mbp.py --mbp /tmp/mbp/bin/mne_bids_pipeline
    python benchmarks/bench_mbp.py --mbp ... --subjects 36 --sessions 2 --repeats 3   # the issue's size

Without ``--mbp`` (and no ``mne_bids_pipeline`` on the PATH) it says so and
measures nothing.

The study is :func:`bench_study.make_study`'s (32 channels of the 10-05
system at 250 Hz, 3-min resting recordings, blinks, 50-Hz mains; EDF
written by mne-bids), with the task labelled ``restingstate``:
MNE-BIDS-Pipeline 1.10.1 fails on a task named exactly ``rest`` with
``task_is_rest = True`` (``KeyError: 'raw_task-rest_run-None'``,
mne-bids-pipeline issue #1076); neurotwin's ``resting_eeg`` takes both
(tasks ``rest*``). Both tools do the same preprocessing of every
recording: 250 Hz, 1-45 Hz band-pass, 50-Hz notch, extended-Picard ICA on
99 % of the variance with the fit decimated by 3 and EOG components
removed, average reference, 2-s epochs with autoreject's global
thresholds, and each tool's own HTML reports. neurotwin also detects and
interpolates bad channels (MNE-BIDS-Pipeline has no such step for EEG);
neither computes features or twins (neurotwin's pipeline is
``resting_eeg`` without its ``features`` step and ``[twin]`` table).

Cases, each a fresh process of one BLAS thread, ``--jobs 1`` / ``n_jobs=1``:

* **first run**: empty output folder (and MNE-BIDS-Pipeline's cache), the
  whole study;
* **no-op rerun**: the same command again with nothing changed (both
  tools cache their steps: neurotwin by content hash, MNE-BIDS-Pipeline by
  file modification time).

The two tools' runs alternate, so that the machine's load falls on both
alike. Printed: wall and CPU seconds (the process and every process it
waited for) min/median/max over ``--repeats``, and neurotwin's median CPU
over MNE-BIDS-Pipeline's (issue 17's targets: the first run stays below
MNE-BIDS-Pipeline's, a no-op rerun costs <= 0.5x MNE-BIDS-Pipeline's).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import argparse
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import ONE_THREAD
from bench_study import make_study

MBP_CONFIG = """\
bids_root = {root!r}
deriv_root = {deriv!r}
subjects = "all"
sessions = "all"
task = "restingstate"
task_is_rest = True
data_type = "eeg"
ch_types = ["eeg"]
eeg_reference = "average"
raw_resample_sfreq = 250.0
l_freq = 1.0
h_freq = 45.0
notch_freq = 50.0
spatial_filter = "ica"
ica_algorithm = "picard-extended_infomax"
ica_n_components = 0.99
ica_l_freq = 1.0
ica_decim = 3
ica_use_ecg_detection = False
ica_use_eog_detection = True
eog_channels = ["Fp1", "Fp2"]
rest_epochs_duration = 2.0
rest_epochs_overlap = 0.0
epochs_tmin = 0.0
baseline = None
reject = "autoreject_global"
run_source_estimation = False
n_jobs = 1
on_error = "abort"
"""


def measured(cmd: list[str]) -> dict:
    """Run one command to its end: wall and CPU seconds (it and the processes it waited for)."""
    env = {**os.environ, **ONE_THREAD}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def neurotwin_pipeline(folder: Path) -> Path:
    """The default ``resting_eeg`` preprocessing without its features step and twin."""
    from neurotwin.pipeline.config import BUILTIN_DIR

    text = (BUILTIN_DIR / "resting_eeg.toml").read_text().split("\n[twin]")[0]
    head, *blocks = text.split("\n[[steps]]\n")
    kept = [b for b in blocks if not b.lstrip().startswith('step = "features"')]
    if len(kept) != len(blocks) - 1:
        raise SystemExit("bench_mbp: the built-in resting_eeg pipeline has no features step to drop")
    path = folder / "resting_eeg_preprocessing.toml"
    path.write_text("\n[[steps]]\n".join([head, *kept]))
    return path


def stats(runs: list[dict], key: str) -> tuple[float, float, float]:
    values = [r[key] for r in runs]
    return min(values), statistics.median(values), max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbp", default=shutil.which("mne_bids_pipeline"), help="mne_bids_pipeline command")
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3, help="no-op reruns of each tool")
    parser.add_argument("--first-repeats", type=int, default=1, help="first runs of each tool")
    parser.add_argument("--keep", default=None, help="keep the study and outputs in this folder")
    args = parser.parse_args()
    if not args.mbp:
        print(
            "bench_mbp: no mne_bids_pipeline command (--mbp); install MNE-BIDS-Pipeline in an environment "
            "of its own (see this script's docstring). Nothing measured."
        )
        return
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-mbp-"))
    tmp.mkdir(parents=True, exist_ok=True)
    root = tmp / "study"
    if not root.exists():
        size = make_study(root, args.subjects, args.sessions, args.minutes, task="restingstate")
        print(f"study: {args.subjects} subjects x {args.sessions} sessions, {size / 2**20:.1f} MiB EDF")
    version = subprocess.run([args.mbp, "--version"], capture_output=True, text=True).stdout.strip()
    pipeline = neurotwin_pipeline(tmp)
    out = tmp / "neurotwin-out"
    deriv = tmp / "mbp-out"
    config = tmp / "mbp_config.py"
    config.write_text(MBP_CONFIG.format(root=str(root), deriv=str(deriv)))
    nt_cmd = [sys.executable, "-m", "neurotwin.cli", "run", str(root), str(out), "participant"]
    nt_cmd += ["--pipeline", str(pipeline), "--jobs", "1", "--progress", "lines"]
    mbp_cmd = [args.mbp, "--config", str(config), "--steps", "init,preprocessing", "--n_jobs", "1"]

    runs: dict[str, list[dict]] = {k: [] for k in ("nt first", "mbp first", "nt no-op", "mbp no-op")}
    for _ in range(args.first_repeats):
        shutil.rmtree(out, ignore_errors=True)
        runs["nt first"].append(measured(nt_cmd))
        shutil.rmtree(deriv, ignore_errors=True)
        runs["mbp first"].append(measured(mbp_cmd))
    for _ in range(args.repeats):
        runs["nt no-op"].append(measured(nt_cmd))
        runs["mbp no-op"].append(measured(mbp_cmd))

    n = args.subjects * args.sessions
    print(f"neurotwin {_nt_version()} against MNE-BIDS-Pipeline {version}; {n} recordings, one process each")
    for case, rs in runs.items():
        w, c = stats(rs, "wall"), stats(rs, "cpu")
        print(
            f"  {case:10s} wall {w[0]:7.1f} / {w[1]:7.1f} / {w[2]:7.1f} s   "
            f"CPU {c[0]:7.1f} / {c[1]:7.1f} / {c[2]:7.1f} s   (min / median / max, {len(rs)} runs)"
        )
    for kind, target in (("first", "< 1"), ("no-op", "<= 0.5")):
        ratio = stats(runs[f"nt {kind}"], "cpu")[1] / stats(runs[f"mbp {kind}"], "cpu")[1]
        print(f"  {kind} run, neurotwin / MNE-BIDS-Pipeline median CPU: {ratio:.2f}x (target {target})")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


def _nt_version() -> str:
    import neurotwin

    return neurotwin.__version__


if __name__ == "__main__":
    main()
