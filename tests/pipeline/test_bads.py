"""Bad-channel detection against pyprep's NoisyChannels, and interpolation."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurotwin.datasets import make_resting_eeg
from neurotwin.errors import DataError
from neurotwin.io import read_raw, standard_montage
from neurotwin.pipeline.steps import DetectBads, Interpolate, find_bad_channels

pyprep = pytest.importorskip("pyprep")

CRITERIA = {
    "deviation": "bad_by_deviation",
    "hf_noise": "bad_by_hf_noise",
    "correlation": "bad_by_correlation",
    "dropout": "bad_by_dropout",
}


def _pyprep_bads(raw):
    nc = pyprep.NoisyChannels(raw.copy().pick("eeg", exclude="bads"), do_detrend=False, random_state=0)
    nc.find_bad_by_nan_flat()
    nc.find_bad_by_deviation()
    nc.find_bad_by_correlation()
    nc.find_bad_by_hfnoise()
    return nc.get_bads(as_dict=True)


def _compare(raw):
    ours = find_bad_channels(raw)
    theirs = _pyprep_bads(raw)
    for mine, key in CRITERIA.items():
        assert sorted(ours[mine]) == sorted(theirs[key]), (mine, ours[mine], theirs[key])
    return ours


def test_same_channels_as_pyprep_on_synthetic_64ch():
    names = [c for c in standard_montage().ch_names if c[-1].isdigit() or c.endswith("z")][:64]
    raw = make_resting_eeg(
        duration=60, sfreq=500, ch_names=names, bad_channels=["T7", "Cz"], line_freq=None, random_state=3
    )
    raw.filter(1.0, None, verbose="error")
    ours = _compare(raw)
    assert ours["all"] == ["T7", "Cz"] or sorted(ours["all"]) == ["Cz", "T7"]


@pytest.mark.parametrize(
    "rel",
    [
        "physionet-eegmat/Subject00_1.edf",
        "physionet-eegmat/Subject02_1.edf",
        "physionet-eegbci-S001/S001R02.edf",
    ],
)
def test_same_channels_as_pyprep_on_real_eeg(shared_data, rel):
    raw = read_raw(shared_data / rel).crop(0, 59).filter(1.0, None, verbose="error")
    _compare(raw)


def test_injected_bad_channel_in_real_recording_is_found(shared_data):
    raw = (
        read_raw(shared_data / "physionet-eegmat/Subject01_1.edf")
        .crop(0, 60)
        .filter(1.0, None, verbose="error")
    )
    before = set(find_bad_channels(raw)["all"])
    k = raw.ch_names.index("P4")
    rng = np.random.default_rng(0)
    raw._data[k] = rng.normal(0, 10 * raw._data[k].std(), raw.n_times)
    found = find_bad_channels(raw)
    assert "P4" in found["all"] and "P4" not in before
    assert "P4" in found["deviation"] and "P4" in found["correlation"]


def test_high_frequency_criterion_needs_content_above_50hz():
    raw = make_resting_eeg(duration=30, sfreq=256, bad_channels=["Cz"], random_state=0)
    raw.filter(1.0, 40.0, verbose="error")
    assert find_bad_channels(raw)["hf_noise"] == []
    assert "Cz" in find_bad_channels(raw)["all"]


def test_flat_and_nan_channels_are_bad_not_a_crash():
    raw = make_resting_eeg(duration=30, random_state=0).filter(1.0, None, verbose="error")
    raw._data[raw.ch_names.index("Pz")] = 0.0
    raw._data[raw.ch_names.index("C3"), 100:200] = np.nan
    assert {"Pz", "C3"} <= set(find_bad_channels(raw)["nan_flat"])


def test_too_many_bad_channels_is_an_error_naming_them():
    raw = make_resting_eeg(
        duration=30, bad_channels=["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8"], random_state=0
    )
    with pytest.raises(DataError, match=r"max_fraction=0.2.*check the recording"):
        DetectBads(max_fraction=0.2).apply(raw.filter(1.0, None, verbose="error"))


def test_detect_then_interpolate_repairs_the_channel():
    clean = make_resting_eeg(duration=30, random_state=5).filter(1.0, 40.0, verbose="error")
    noisy = make_resting_eeg(duration=30, bad_channels=["C4"], random_state=5).filter(
        1.0, 40.0, verbose="error"
    )
    log = {}
    raw = Interpolate().apply(DetectBads().apply(noisy, log), log)
    assert log["bads"] == ["C4"] and log["interpolated"] == ["C4"] and raw.info["bads"] == []
    k = raw.ch_names.index("C4")
    r = np.corrcoef(raw.get_data()[k], clean.get_data()[k])[0, 1]
    assert r > 0.8  # the spline estimate follows the true signal


def test_interpolate_without_positions_is_a_clear_error():
    info = mne.create_info(["A", "B", "C", "D"], 100.0, "eeg")
    raw = mne.io.RawArray(np.random.default_rng(0).normal(size=(4, 1000)) * 1e-5, info, verbose="error")
    raw.info["bads"] = ["B"]
    with pytest.raises(DataError, match="no positions"):
        Interpolate().apply(raw)
