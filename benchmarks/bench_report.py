"""Benchmark: building one patient's report (3 sessions and a twin), on one core.

Run from the repository root::

    python benchmarks/bench_report.py            # median of 5
    python benchmarks/bench_report.py --repeats 3

The sample study's sub-02 (3 sessions of 60 s, 19 channels, twin with 3
states) is processed once by the default pipeline into a temporary
folder; then :func:`neurotwin.report.subject_report` is timed: it reads
the outputs and the raw recordings (for the before-preprocessing
spectra and the QC figures), evaluates the twin's model spectra, draws ~20
figures and writes the HTML; then again with the QC figures cached.
Printed: min/median/max and the target (issue 7: <= 20 s). Baseline:
``mne.Report`` adding the same three sessions' epochs (its standard epochs
section with PSD) in the same run.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ONE_THREAD

os.environ.update(ONE_THREAD)

import argparse
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from _common import pin_one_core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    pin_one_core()
    warnings.filterwarnings("ignore")
    import mne

    import neurotwin
    import neurotwin.pipeline as ntp
    from neurotwin.datasets import sample_data_path
    from neurotwin.report import subject_report

    neurotwin.set_log_level("error")
    mne.set_log_level("error")
    out = Path(tempfile.mkdtemp()) / "derivatives"
    pipe = ntp.load("resting_eeg")
    pipe.run(sample_data_path(), out, participant_label=["02"], progress="off", reports=False)
    from neurotwin.io import Derivatives

    subject_report(out, "02", pipe.config)  # warm-up (imports, fonts)
    secs, warm = [], []
    for _ in range(args.repeats):
        # an existing page built from the same inputs is not rebuilt: remove it, and the drawn QC
        # figures (a first build), then time a rebuild that finds the figures cached
        shutil.rmtree(Derivatives(out).figure_cache, ignore_errors=True)
        (out / "sub-02.html").unlink()
        t0 = time.perf_counter()
        path = subject_report(out, "02", pipe.config)
        secs.append(time.perf_counter() - t0)
        (out / "sub-02.html").unlink()
        t0 = time.perf_counter()
        subject_report(out, "02", pipe.config)
        warm.append(time.perf_counter() - t0)
    epochs = sorted(out.glob("sub-02/ses-*/eeg/*_epo.fif"))
    base = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        report = mne.Report(title="sub-02", verbose="error")
        for f in epochs:
            report.add_epochs(mne.read_epochs(f, verbose="error"), title=f.name, psd=True)
        report.save(out / "mne_report.html", overwrite=True, open_browser=False, verbose="error")
        base.append(time.perf_counter() - t0)
    med, bmed = statistics.median(secs), statistics.median(base)
    print(f"neurotwin {neurotwin.__version__}, MNE {mne.__version__}; one core; {args.repeats} repeats")
    print(
        f"  neurotwin subject report (3 sessions + twin, QC figures drawn): min {min(secs):.2f} s, "
        f"median {med:.2f} s, max {max(secs):.2f} s; {path.stat().st_size / 1e6:.2f} MB; target <= 20 s"
    )
    print(
        f"  the same rebuilt with the QC figures cached: min {min(warm):.2f} s, "
        f"median {statistics.median(warm):.2f} s, max {max(warm):.2f} s"
    )
    print(
        f"  mne.Report, the 3 sessions' epochs (baseline): min {min(base):.2f} s, median {bmed:.2f} s, "
        f"max {max(base):.2f} s; ratio {med / bmed:.2f}x"
    )


if __name__ == "__main__":
    main()
