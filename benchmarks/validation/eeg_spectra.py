"""Validation: spectral fit quality of EEG twins on the real resting recordings in ``../shared/data``.

Run from the repository root::

    python benchmarks/validation/eeg_spectra.py

Recordings: PhysioNet EEG-MAT subjects 00-03 (resting part, 19 channels)
and EEGBCI S001 runs 1-2 (eyes open / eyes closed, 64 channels). Each is
band-passed 1-45 Hz, average-referenced and cut into 2-s epochs; the
default features give the PSD and the IAF; the twin (76-region TVB template from ``tvb-data`` in the
shared data) is fitted to the PSD with its defaults. No amplitude rejection:
a fixed 150 µV limit drops every epoch of the EEGBCI runs (their ranges are
wider; the pipeline's autoreject learns each recording's limit). Printed per
recording: Pearson r between model and data log-PSD (all channels, 2-40
Hz), the model's alpha peak minus the features' IAF (median over
channels), fit time and the identifiability warnings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import mne
import numpy as np

import neurotwin
from neurotwin.features import compute_features
from neurotwin.io import read_eeg
from neurotwin.model import template_connectome
from neurotwin.twin import Twin

RECORDINGS = [("eegmat", f"physionet-eegmat/Subject0{i}_1.edf") for i in range(4)] + [
    ("eegbci", "physionet-eegbci-S001/S001R01.edf"),
    ("eegbci", "physionet-eegbci-S001/S001R02.edf"),
]


def features(path: Path):
    raw = read_eeg(path, verbose="error").load_data().pick("eeg")
    raw.filter(1.0, 45.0, verbose="error").set_eeg_reference("average", verbose="error")
    epochs = mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")
    return compute_features(epochs, ["psd", "iaf"]), len(epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    args = parser.parse_args()
    neurotwin.set_log_level("error")
    data = Path(args.data)
    con = template_connectome("tvb76", tvb_data=data / "tvb-data-3.0.0" / "tvb_data")
    print(f"neurotwin {neurotwin.__version__}: EEG twins (TVB 76 regions) fitted to real resting PSDs")
    print(
        f"  {'recording':<18} {'ch':>3} {'epochs':>6} {'r log-PSD':>9} {'IAF':>6} {'model':>6} "
        f"{'error':>6} {'fit s':>6}  warnings"
    )
    rs, errs = [], []
    for _, rel in RECORDINGS:
        fs, n_ep = features(data / rel)
        t0 = time.perf_counter()
        twin = Twin("x", connectome=con).fit(fs)
        seconds = time.perf_counter() - t0
        d = twin.states_[0].diagnostics
        iaf = twin.states_[0].features.get("iaf", float("nan"))
        rs.append(d["r_log_psd"])
        errs.append(d["model_iaf"] - iaf)
        n_ch = len(twin.states_[0].features["channels"])
        warn = "; ".join(w.split(" (")[0] for w in d["warnings"]) or "-"
        print(
            f"  {Path(rel).name:<18} {n_ch:3d} {n_ep:6d} {d['r_log_psd']:9.3f} {iaf:6.2f} "
            f"{d['model_iaf']:6.2f} {errs[-1]:+6.2f} {seconds:6.1f}  {warn}"
        )
    print(
        f"  median r of log-PSD {np.median(rs):.3f} (min {min(rs):.3f}); median |IAF error| "
        f"{np.median(np.abs(errs)):.2f} Hz (max {np.max(np.abs(errs)):.2f})"
    )


if __name__ == "__main__":
    main()
