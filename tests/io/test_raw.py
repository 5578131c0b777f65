"""Reading EEG/MEG recordings: real files from ../shared/data and made ones."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurotwin.errors import DataError
from neurotwin.io import read_eeg, read_meg, read_raw, supported_formats

EEGMAT = [f"physionet-eegmat/Subject0{i}_{k}.edf" for i in range(4) for k in (1, 2)]
EEGBCI = [f"physionet-eegbci-S001/S001R0{i}.edf" for i in (1, 2, 3)]


def _alpha_peak(raw, picks):
    psd = raw.compute_psd(
        method="welch", fmin=3, fmax=30, picks=picks, n_fft=int(4 * raw.info["sfreq"]), verbose="error"
    )
    freqs = psd.freqs
    mean = psd.get_data().mean(axis=0)
    band = (freqs >= 6) & (freqs <= 15)
    return float(freqs[band][np.argmax(mean[band])])


@pytest.mark.parametrize("rel", EEGMAT)
def test_eegmat_types_and_values(shared_data, rel):
    raw = read_eeg(shared_data / rel)
    assert raw.info["sfreq"] == 500.0
    types = dict(zip(raw.ch_names, raw.get_channel_types()))
    assert types["ECG"] == "ecg"
    assert types["A2-A1"] == "misc"
    eeg = [n for n, t in types.items() if t == "eeg"]
    assert len(eeg) == 19 and {"Fp1", "O1", "O2", "Cz", "T3"} <= set(eeg)
    # template positions set for every EEG channel
    locs = np.array([raw.info["chs"][raw.ch_names.index(n)]["loc"][:3] for n in eeg])
    assert np.all(np.abs(locs).sum(axis=1) > 0)
    amp = raw.get_data(picks="eeg").std(axis=1)
    assert np.all((amp > 1e-7) & (amp < 1e-3))  # volts: EEG is microvolts, not garbage


@pytest.mark.parametrize("rel", [r for r in EEGMAT if r.endswith("_1.edf")])
def test_eegmat_resting_alpha(shared_data, rel):
    raw = read_eeg(shared_data / rel)
    assert 8.0 <= _alpha_peak(raw, ["O1", "O2"]) <= 13.0


def test_eegbci_eyes_closed_alpha_and_names(shared_data):
    raw = read_eeg(shared_data / "physionet-eegbci-S001/S001R02.edf")
    assert raw.info["sfreq"] == 160.0 and len(raw.ch_names) == 64
    assert not any(n.endswith(".") for n in raw.ch_names)
    assert {"FC5", "Fp1", "O1", "Oz", "O2", "Iz", "T10"} <= set(raw.ch_names)
    assert 8.0 <= _alpha_peak(raw, ["O1", "Oz", "O2"]) <= 13.0


def test_eegbci_annotations_kept(shared_data):
    raw = read_eeg(shared_data / "physionet-eegbci-S001/S001R03.edf")
    assert {"T0", "T1", "T2"} <= set(raw.annotations.description)
    assert len(raw.annotations) == 30


@pytest.mark.parametrize("rel", EEGBCI)
def test_eegbci_all_runs_load(shared_data, rel):
    raw = read_raw(shared_data / rel)
    assert raw.get_channel_types(unique=True) == ["eeg"]


def test_eeglab(shared_data):
    raw = read_eeg(shared_data / "mne-testing-data/EEGLAB/test_raw.set")
    assert raw.info["sfreq"] == 128.0 and len(raw.ch_names) == 32
    assert raw.ch_names[0] == "EEG 000"  # non-standard names are left alone
    assert raw.times[-1] > 230 and len(raw.annotations) == 154


def test_brainvision(shared_data):
    raw = read_eeg(shared_data / "mne-python/mne/io/brainvision/tests/data/test.vhdr")
    assert raw.info["sfreq"] == 1000.0
    assert "Fp1" in raw.ch_names  # FP1 -> Fp1
    assert len(raw.annotations) > 0


def test_kit_meg(shared_data):
    raw = read_meg(shared_data / "mne-python/mne/io/kit/tests/data/test.sqd")
    assert len(mne.pick_types(raw.info, meg="mag")) == 157


def test_fif_meg_eeg(shared_data):
    raw = read_meg(shared_data / "mne-testing-data/SSS/sample_audvis_trunc_raw_sss.fif")
    types = raw.get_channel_types()
    assert types.count("grad") == 204 and types.count("mag") == 102 and types.count("eeg") == 60
    assert "EOG 061" in raw.ch_names  # typed by the file: name untouched


def test_ieeg_fif(shared_data):
    raw = read_raw(shared_data / "mne-misc-data/ecog/sample_ecog_ieeg.fif")
    assert set(raw.get_channel_types()) == {"ecog", "seeg"}


def test_read_meg_refuses_eeg_only(shared_data):
    with pytest.raises(DataError, match="no MEG channels"):
        read_meg(shared_data / "physionet-eegbci-S001/S001R02.edf")


def test_bdf_roundtrip(tmp_path):
    from tests.conftest import write_edf

    fname = write_edf(tmp_path / "x.bdf", bdf=True)
    raw = read_raw(fname)
    assert raw.n_times == 512 and "Fp1" in raw.ch_names


def test_preload_false_checks_chunks(small_edf):
    raw = read_raw(small_edf, preload=False)
    assert not raw.preload and raw.n_times == 512


def test_flat_channel_marked_bad(tmp_path):
    from tests.conftest import write_edf

    data = np.random.default_rng(1).normal(0, 20, (3, 512))
    data[1] = 0.0
    raw = read_raw(write_edf(tmp_path / "flat1.edf", data=data))
    assert raw.info["bads"] == ["Cz"]


def test_partial_nan_refused_unless_allowed(tmp_path):
    info = mne.create_info(["Cz", "Oz"], 100.0, "eeg")
    data = np.random.default_rng(0).normal(0, 1e-5, (2, 1000))
    data[0, 100:200] = np.nan
    fname = tmp_path / "gap_raw.fif"
    mne.io.RawArray(data, info, verbose="error").save(fname, verbose="error")
    with pytest.raises(DataError, match="gap_raw.fif.*NaN"):
        read_raw(fname)
    raw = read_raw(fname, allow_nan=True)
    assert "BAD_nan" in raw.annotations.description
    onset = raw.annotations.onset[list(raw.annotations.description).index("BAD_nan")]
    assert onset == pytest.approx(1.0)


def test_supported_formats_table():
    table = supported_formats()
    for fmt in (
        "EDF",
        "BDF",
        "BrainVision",
        "EEGLAB",
        "FIF",
        "CNT",
        "KIT",
        "CTF",
        "BTi/4D",
        "EGI",
        "NIfTI",
        "MGH",
        "TVB connectivity zip",
        "MATLAB connectome",
    ):
        assert fmt in table["format"].tolist()


def test_cnt_reads_as_int16():
    from neurotwin.io import match_reader

    spec = match_reader("x.cnt")
    assert spec.read is mne.io.read_raw_cnt and spec.kwargs == {"data_format": "int16"}


def test_all_nan_channel_marked_bad_quietly(tmp_path, recwarn):
    info = mne.create_info(["Cz", "Oz", "Pz"], 100.0, "eeg")
    data = np.random.default_rng(0).normal(0, 1e-5, (3, 1000))
    data[2] = np.nan
    fname = tmp_path / "nanchan_raw.fif"
    mne.io.RawArray(data, info, verbose="error").save(fname, verbose="error")
    raw = read_raw(fname)
    assert raw.info["bads"] == ["Pz"]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
