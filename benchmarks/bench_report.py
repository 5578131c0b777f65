"""Benchmark: building one patient's report (3 sessions and a twin), on one core.

Run from the repository root::

    python benchmarks/bench_report.py            # median of 5
    python benchmarks/bench_report.py --repeats 3

The sample study's sub-02 (3 sessions of 60 s, 19 channels, twin with 3
states) is processed once by the default pipeline into a temporary
folder; then :func:`neurotwin.report.subject_report` is timed: it reads
the outputs and the raw recordings (for the before-preprocessing
spectra), evaluates the twin's model spectra, draws ~15 figures and
writes the HTML. Printed: min/median/max and the target (issue 7:
<= 20 s). Baseline: ``mne.Report`` adding the same three sessions'
epochs (its standard epochs section with PSD) in the same run.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ONE_THREAD

os.environ.update(ONE_THREAD)

import argparse
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
    subject_report(out, "02", pipe.config)  # warm-up
    secs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        path = subject_report(out, "02", pipe.config)
        secs.append(time.perf_counter() - t0)
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
    print(f"  neurotwin subject report (3 sessions + twin): min {min(secs):.2f} s, median {med:.2f} s, "
          f"max {max(secs):.2f} s; {path.stat().st_size / 1e6:.2f} MB; target <= 20 s")
    print(f"  mne.Report, the 3 sessions' epochs (baseline): min {min(base):.2f} s, median {bmed:.2f} s, "
          f"max {max(base):.2f} s; ratio {med / bmed:.2f}x")


if __name__ == "__main__":
    main()
