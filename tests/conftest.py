"""Shared fixtures: real data, the sample study, small synthetic files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recordings in ``../shared/data`` (README there).

    Skipped when absent (a user's clone); a failure when ``CI=true``.
    ``NEUROTWIN_SHARED_DATA`` overrides the location.
    """
    path = Path(os.environ.get("NEUROTWIN_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (path / "PROVENANCE.tsv").is_file():
        msg = f"real test data not found at {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: it must be there)")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def sample_root() -> Path:
    """The committed sample study."""
    from neurotwin.datasets import sample_data_path

    return sample_data_path()


def write_edf(
    path: Path,
    *,
    n_channels: int = 3,
    sfreq: int = 128,
    seconds: int = 4,
    names=None,
    patient=None,
    annotations=(),
    data=None,
    bdf: bool = False,
) -> Path:
    """Write a small EDF/BDF with edfio (physical range +-500 uV)."""
    import edfio

    rng = np.random.default_rng(0)
    names = names or [f"EEG {n}" for n in ("Fp1", "Cz", "O1", "O2", "Pz")[:n_channels]]
    n = sfreq * seconds
    if data is None:
        data = rng.normal(0, 20, (len(names), n))
    signal_cls, file_cls = (edfio.BdfSignal, edfio.Bdf) if bdf else (edfio.EdfSignal, edfio.Edf)
    signals = [
        signal_cls(
            np.asarray(x, float),
            sampling_frequency=sfreq,
            label=name,
            physical_dimension="uV",
            physical_range=(-500, 500),
        )
        for name, x in zip(names, data)
    ]
    edf = file_cls(signals, patient=patient or edfio.Patient())
    if annotations:
        edf.set_annotations([edfio.EdfAnnotation(o, None, d) for o, d in annotations])
    edf.write(path)
    return path


@pytest.fixture
def small_edf(tmp_path) -> Path:
    """A valid 3-channel EDF, 4 s at 128 Hz."""
    return write_edf(tmp_path / "small.edf")


def build_real_study(shared: Path, root: Path) -> Path:
    """A BIDS study of the real recordings in ``../shared/data`` (symbolic links, nothing copied).

    EEG: eegmat subjects 00-03 (rest), EEGBCI S001 (runs 1-2: eyes open/closed rest), the EEGLAB
    tutorial file; MEG: the MNE sample (SSS, 1 s); label volumes: the MNE sample aseg and the
    ECoG patient's aparc+aseg.
    """
    import json

    def link(src: str, dst: str) -> None:
        target = root / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(shared / src)

    links = {
        f"physionet-eegmat/Subject0{i}_1.edf": f"sub-eegmat0{i}/eeg/sub-eegmat0{i}_task-rest_eeg.edf"
        for i in range(4)
    }
    for r in (1, 2):
        bids = f"sub-eegbci/eeg/sub-eegbci_task-rest_run-0{r}_eeg.edf"
        links[f"physionet-eegbci-S001/S001R0{r}.edf"] = bids
    links.update(
        {
            "mne-testing-data/EEGLAB/test_raw.set": "sub-eeglab/eeg/sub-eeglab_task-rest_eeg.set",
            "mne-testing-data/EEGLAB/test_raw.fdt": "sub-eeglab/eeg/test_raw.fdt",  # the .set names it
            "mne-testing-data/SSS/sample_audvis_trunc_raw_sss.fif": (
                "sub-mnesample/meg/sub-mnesample_task-rest_meg.fif"
            ),
            "mne-testing-data/subjects/sample/mri/aseg.mgz": (
                "sub-mnesample/anat/sub-mnesample_desc-aseg_dseg.mgz"
            ),
            "mne-misc-data/ecog/sample_ecog/mri/aparc+aseg.mgz": (
                "sub-ecog/anat/sub-ecog_desc-aparcaseg_dseg.mgz"
            ),
        }
    )
    for src, dst in links.items():
        link(src, dst)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "real", "BIDSVersion": "1.10.0"}))
    return root


@pytest.fixture(scope="session")
def real_study(shared_data, tmp_path_factory) -> Path:
    """:func:`build_real_study` in a temporary folder."""
    return build_real_study(shared_data, tmp_path_factory.mktemp("real") / "bids")


@pytest.fixture(scope="session")
def sample_derivatives(sample_root, tmp_path_factory) -> Path:
    """The README's main job on the sample study: participant (preprocessing, features, twins, reports)
    then group (study report); run once per session."""
    from neurotwin.cli import main

    out = tmp_path_factory.mktemp("sample") / "derivatives"
    assert main(["run", str(sample_root), str(out), "participant", "--progress", "off"]) == 0
    assert main(["run", str(sample_root), str(out), "group"]) == 0
    return out


def chromium() -> str | None:
    """The headless browser for report tests (required when CI=true)."""
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (.ci/run installs Debian's package)")
    return found


@pytest.fixture(scope="session")
def real_eeg_result(real_study, tmp_path_factory):
    """The default pipeline over the real-recordings study (reports included): ``(out, RunResult)``,
    run once per session, on two worker processes (CI's two cores; a pool's results are the serial
    run's, ``test_process_pool_gives_the_serial_results``)."""
    import neurotwin.pipeline as ntp

    out = tmp_path_factory.mktemp("real-eeg") / "out"
    return out, ntp.load("resting_eeg").run(real_study, out, progress="off", jobs=2)


@pytest.fixture(scope="session")
def eeg_run_real(real_eeg_result) -> Path:
    """The output folder of :func:`real_eeg_result`."""
    return real_eeg_result[0]


SSS = "mne-testing-data/SSS/sample_audvis_trunc_raw_sss.fif"


@pytest.fixture(scope="session")
def tvb76(shared_data):
    from neurotwin.model import template_connectome

    return template_connectome("tvb76", tvb_data=shared_data / "tvb-data-3.0.0" / "tvb_data")


@pytest.fixture(scope="session")
def sample_raw(shared_data):
    """The sample person's 1 s of MEG (306) and EEG (60) after SSS."""
    import mne

    return mne.io.read_raw_fif(shared_data / SSS, verbose="error").load_data()


@pytest.fixture(scope="session")
def few_meg(sample_raw):
    """Features of 24 of the sample person's MEG sensors (16 gradiometers, 8 magnetometers) and 4 EEG."""
    import mne

    from neurotwin.features import compute_features

    grads = mne.pick_types(sample_raw.info, meg="grad")[::12][:16]
    mags = mne.pick_types(sample_raw.info, meg="mag")[::12][:8]
    eeg = mne.pick_types(sample_raw.info, eeg=True)[:4]
    raw = sample_raw.copy().pick([sample_raw.ch_names[i] for i in np.r_[grads, mags, eeg]])
    return compute_features(raw, ["psd"], subject="sample", session="1")
