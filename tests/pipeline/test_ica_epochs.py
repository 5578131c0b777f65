"""ICA, epoching and the REST reference."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurotwin.datasets import make_resting_eeg
from neurotwin.errors import DataError
from neurotwin.io import read_raw
from neurotwin.pipeline.steps import ICA, Epochs, Rereference


def _blinky(seed=0):
    return make_resting_eeg(duration=60, blink_rate=0.5, random_state=seed).filter(1.0, 40.0, verbose="error")


def test_ica_removes_the_blink_component():
    raw = _blinky()
    veog = raw.get_data(picks="VEOG")[0]
    fp1_before = raw.get_data(picks="Fp1")[0].copy()
    log = {}
    ICA(random_state=0).apply(raw, log)
    assert len(log["found"]["eog"]) >= 1 and log["excluded"]
    r_before = abs(np.corrcoef(fp1_before, veog)[0, 1])
    r_after = abs(np.corrcoef(raw.get_data(picks="Fp1")[0], veog)[0, 1])
    assert r_before > 0.5 and r_after < 0.5 * r_before
    assert "ecg" not in log["found"]  # EEG without an ECG channel: skipped, said in the log


def test_ica_is_deterministic_for_a_seed():
    a = ICA(random_state=42).apply(_blinky())
    b = ICA(random_state=42).apply(_blinky())
    np.testing.assert_array_equal(a.get_data(), b.get_data())


def test_ica_uses_frontal_proxies_without_eog_channel():
    raw = _blinky().drop_channels(["VEOG"])
    log = {}
    ICA(random_state=0).apply(raw, log)
    assert log["eog_channels"] == ["Fp1", "Fp2"] and log["excluded"]


def test_ica_with_unknown_eog_channel_names_it():
    with pytest.raises(DataError, match="HEOG"):
        ICA(eog=["HEOG"]).apply(_blinky())


def test_ica_on_real_eeg_with_ecg_channel(shared_data):
    raw = read_raw(shared_data / "physionet-eegmat/Subject00_1.edf").crop(0, 90)
    raw.filter(1.0, 40.0, verbose="error").resample(200, verbose="error")
    log = {}
    ICA(random_state=97).apply(raw, log)
    assert "ecg" in log["found"]  # the eegmat ECG channel is used
    assert log["n_components"] >= 5


def test_ica_density_gives_picards_own_unmixing_bit_for_bit(shared_data):
    """The step's in-place density is picard's tanh: on a real recording the unmixing is the same,
    to the last bit, so the same components are removed (it only saves time)."""
    from neurotwin.pipeline.steps.ica import _Tanh

    raw = read_raw(shared_data / "physionet-eegmat/Subject03_1.edf").crop(0, 60)
    raw.filter(1.0, 40.0, verbose="error").resample(125, verbose="error")
    unmixing = []
    for fun in ("tanh", _Tanh()):
        ica = mne.preprocessing.ICA(
            n_components=0.99,
            method="picard",
            random_state=97,
            fit_params={"ortho": False, "extended": True, "fun": fun, "check_fun": False},
            verbose="error",
        )
        with pytest.warns(UserWarning, match="different density") if fun != "tanh" else _nothing():
            ica.fit(raw, picks="eeg", verbose="error")
        unmixing.append(ica.unmixing_matrix_)
    assert unmixing[0].shape[0] >= 5
    np.testing.assert_array_equal(unmixing[0], unmixing[1])


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def test_epochs_reject_by_amplitude_and_annotation():
    raw = make_resting_eeg(duration=40, blink_rate=0, random_state=0).filter(1.0, 40.0, verbose="error")
    raw._data[raw.ch_names.index("Cz"), 5 * 256 : 5 * 256 + 50] += 500e-6  # epoch 2 (4-6 s)
    raw.set_annotations(mne.Annotations([21.0], [1.0], ["BAD_movement"]))  # epoch 10 (20-22 s)
    log = {}
    epochs = Epochs(length=2.0, reject_eeg=150.0).apply(raw, log)
    assert log["n_total"] == 20 and log["n_bad_annotation"] == 1 and log["n_bad_amplitude"] == 1
    assert len(epochs) == 18 and log["n_kept"] == 18
    onsets = epochs.events[:, 0] / raw.info["sfreq"]
    assert 4.0 not in onsets and 20.0 not in onsets


def test_epochs_keep_blink_annotations_but_drop_bad_ones():
    raw = make_resting_eeg(duration=20, blink_rate=0.5, random_state=0).filter(1.0, 40.0, verbose="error")
    log = {}
    Epochs(reject_eeg=None).apply(raw, log)
    assert log["n_bad_annotation"] == 0 and log["n_kept"] == 10


def test_epochs_errors_when_nothing_survives_or_too_short():
    raw = make_resting_eeg(duration=10, random_state=0)
    with pytest.raises(DataError, match="survive rejection"):
        Epochs(reject_eeg=0.01, min_epochs=1).apply(raw.copy())
    with pytest.raises(DataError, match="shorter than one"):
        Epochs(length=30.0).apply(raw.copy())


def test_rest_reference_differs_from_average_and_keeps_rank():
    raw = make_resting_eeg(duration=10, random_state=0).filter(1.0, 40.0, verbose="error")
    avg = Rereference(ref="average").apply(raw.copy())
    rest = Rereference(ref="rest").apply(raw.copy())
    a, r = avg.get_data(picks="eeg"), rest.get_data(picks="eeg")
    assert not np.allclose(a, r)
    # REST differs from the average reference by one common signal per sample
    diff = r - a
    np.testing.assert_allclose(diff - diff.mean(axis=0), 0, atol=1e-3 * np.abs(a).max())
