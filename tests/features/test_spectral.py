"""Spectral and aperiodic features against SciPy, MNE and specparam, and known truth."""

from __future__ import annotations

import mne
import numpy as np
import pytest
from scipy.integrate import trapezoid
from scipy.signal import welch

from neurotwin.datasets import make_resting_eeg
from neurotwin.errors import ConfigError, DataError
from neurotwin.features import DEFAULT_BANDS, compute_features
from neurotwin.io import read_raw


def _epochs(raw, length=2.0):
    return mne.make_fixed_length_epochs(raw, duration=length, preload=True, verbose="error")


@pytest.fixture(scope="module")
def synthetic():
    raw = make_resting_eeg(
        duration=120,
        sfreq=250,
        alpha_freq=10.0,
        aperiodic_exponent=1.5,
        line_freq=None,
        blink_rate=0,
        random_state=7,
    )
    return _epochs(raw.filter(1.0, 45.0, verbose="error"))


def _scipy_band_power(epochs, band, nperseg):
    x = epochs.get_data(picks="eeg")  # V
    f, p = welch(
        x, fs=epochs.info["sfreq"], window="hamming", nperseg=nperseg, noverlap=0, detrend=False, axis=-1
    )
    p = p.mean(axis=0) * 1e12  # average over epochs, uV^2/Hz
    mask = (f >= band[0]) & (f <= band[1])
    return trapezoid(p[:, mask], f[mask], axis=-1)


@pytest.mark.parametrize("band", list(DEFAULT_BANDS))
def test_band_power_equals_scipy_welch(synthetic, band):
    fs = compute_features(synthetic, ["band_power"])
    ours = fs.table[(fs.table["feature"] == "band_power") & (fs.table["band"] == band)]
    ref = _scipy_band_power(synthetic, DEFAULT_BANDS[band], nperseg=500)
    np.testing.assert_allclose(ours["value"].to_numpy(), ref, rtol=1e-6)
    assert set(ours["unit"]) == {"uV^2"}


def test_band_power_on_real_eeg_equals_scipy(shared_data):
    raw = read_raw(shared_data / "physionet-eegmat/Subject01_1.edf").filter(1.0, 45.0, verbose="error")
    epochs = _epochs(raw.crop(0, 120).pick("eeg"))
    fs = compute_features(epochs, ["band_power"])
    for band in ("theta", "alpha"):
        ours = fs.table[(fs.table["feature"] == "band_power") & (fs.table["band"] == band)]
        ref = _scipy_band_power(epochs, DEFAULT_BANDS[band], nperseg=1000)
        np.testing.assert_allclose(ours["value"].to_numpy(), ref, rtol=1e-6)


def test_relative_power_sums_to_one_over_contiguous_bands(synthetic):
    fs = compute_features(
        synthetic,
        ["band_power"],
        params={"band_power": {"bands": {"a": (1, 10), "b": (10, 45)}, "total": (1, 45)}},
    )
    rel = fs.table[fs.table["feature"] == "band_power_rel"].pivot(
        index="location", columns="band", values="value"
    )
    np.testing.assert_allclose(rel.sum(axis=1), 1.0, rtol=1e-12)


def test_multitaper_equals_mne_array_function(synthetic):
    from mne.time_frequency import psd_array_multitaper

    fs = compute_features(synthetic, ["psd"], psd_method="multitaper")
    x = synthetic.get_data(picks="eeg")
    p, f = psd_array_multitaper(
        x, synthetic.info["sfreq"], fmin=0, fmax=45, adaptive=False, low_bias=True, verbose="error"
    )
    np.testing.assert_allclose(fs.arrays["psd"].values, p.mean(axis=0) * 1e12, rtol=1e-6)


def test_synthetic_truth_iaf_and_exponent(synthetic):
    fs = compute_features(synthetic, ["iaf", "aperiodic"])
    assert abs(fs.get("iaf", location="global") - 10.0) <= 0.25
    posterior = fs.table[(fs.table["feature"] == "iaf") & fs.table["location"].isin(["O1", "O2", "Pz"])]
    assert (abs(posterior["value"] - 10.0) <= 0.25).all()
    assert abs(fs.get("aperiodic_exponent", location="global") - 1.5) <= 0.05
    assert fs.get("aperiodic_r2", location="global") > 0.95


def test_aperiodic_matches_specparam_on_an_independent_psd(synthetic):
    from specparam import SpectralModel

    fs = compute_features(synthetic, ["aperiodic"])
    x = synthetic.get_data(picks="Cz")[:, 0]
    f, p = welch(x, fs=250.0, window="hamming", nperseg=500, noverlap=0, detrend=False, axis=-1)
    model = SpectralModel(peak_width_limits=[1, 8], max_n_peaks=6, min_peak_height=0.1, verbose=False)
    model.fit(f, p.mean(axis=0) * 1e12, [2, 40])
    assert abs(fs.get("aperiodic_exponent", location="Cz") - model.get_params("aperiodic")[-1]) <= 0.02


@pytest.mark.parametrize("subject, channel", [("00", "O1"), ("03", "Cz")])
def test_aperiodic_on_real_eeg_matches_specparam(shared_data, subject, channel):
    from specparam import SpectralModel

    raw = read_raw(shared_data / f"physionet-eegmat/Subject{subject}_1.edf").filter(
        1.0, 45.0, verbose="error"
    )
    epochs = _epochs(raw.crop(0, 120).pick("eeg"))
    fs = compute_features(epochs, ["aperiodic"])
    x = epochs.get_data(picks=channel)[:, 0]
    f, p = welch(x, fs=500.0, window="hamming", nperseg=1000, noverlap=0, detrend=False, axis=-1)
    model = SpectralModel(peak_width_limits=[1, 8], max_n_peaks=6, min_peak_height=0.1, verbose=False)
    model.fit(f, p.mean(axis=0) * 1e12, [2, 40])
    assert abs(fs.get("aperiodic_exponent", location=channel) - model.get_params("aperiodic")[-1]) <= 0.02


def test_no_alpha_gives_no_peak_not_nan():
    raw = make_resting_eeg(
        duration=60, sfreq=250, alpha_freq=None, line_freq=None, blink_rate=0, random_state=1
    ).filter(1.0, 45.0, verbose="error")
    fs = compute_features(_epochs(raw), ["iaf"])
    rows = fs.table[fs.table["feature"] == "iaf"]
    assert (rows["status"] == "no peak").mean() > 0.8
    assert rows.loc[rows["status"] == "no peak", "value"].isna().all()


def test_eyes_closed_has_more_occipital_alpha_and_iaf_in_range(shared_data):
    def alpha(run):
        raw = read_raw(shared_data / f"physionet-eegbci-S001/S001R0{run}.edf").filter(
            1.0, 45.0, verbose="error"
        )
        fs = compute_features(_epochs(raw.pick("eeg")), ["band_power", "iaf"])
        rel = fs.table[(fs.table["feature"] == "band_power_rel") & (fs.table["band"] == "alpha")]
        return rel.set_index("location").loc[["O1", "Oz", "O2"], "value"].mean(), fs

    open_, _ = alpha(1)
    closed, fs = alpha(2)
    assert closed > 1.3 * open_
    assert 8.0 <= fs.get("iaf", location="global") <= 13.0


@pytest.mark.parametrize("subject", ["00", "01", "02", "03"])
def test_real_resting_iaf_in_alpha_range(shared_data, subject):
    raw = read_raw(shared_data / f"physionet-eegmat/Subject{subject}_1.edf").filter(
        1.0, 45.0, verbose="error"
    )
    fs = compute_features(_epochs(raw.pick("eeg")), ["iaf"])
    assert 8.0 <= fs.get("iaf", location="global") <= 13.0


def test_bad_input_is_a_clear_error_or_a_status():
    raw = make_resting_eeg(duration=30, sfreq=250, random_state=0).filter(1.0, 45.0, verbose="error")
    epochs = _epochs(raw)
    epochs._data[:, epochs.ch_names.index("Cz")] = 0.0
    epochs._data[:, epochs.ch_names.index("Pz"), 10] = np.nan
    fs = compute_features(epochs, ["band_power", "iaf", "aperiodic", "spectral_edge"])
    cz = fs.table[fs.table["location"] == "Cz"]
    assert (cz["status"] == "not computable: flat channel").all()
    assert (fs.table[fs.table["location"] == "Pz"]["status"] == "not computable: NaN in the data").all()
    assert (fs.table[fs.table["location"] == "O1"]["status"] == "ok").all()
    with pytest.raises(DataError, match="too short"):
        compute_features(_epochs(raw, length=0.5), ["band_power"])
    with pytest.raises(ConfigError, match="above"):
        compute_features(epochs, ["band_power"], params={"band_power": {"bands": {"high": (100, 150)}}})
    with pytest.raises(ConfigError, match="Did you mean 'band_power'"):
        compute_features(epochs, ["band_powr"])
    with pytest.raises(ConfigError, match="valid"):
        compute_features(epochs, ["iaf"], params={"iaf": {"serch": (7, 14)}})


def test_spectral_edge_and_theta_beta(synthetic):
    fs = compute_features(synthetic, ["spectral_edge", "theta_beta", "band_power"])
    t = fs.table
    sef = t[t["feature"] == "spectral_edge"]["value"]
    assert ((sef > 10) & (sef < 45)).all()
    bp = t[t["feature"] == "band_power"].pivot(index="location", columns="band", values="value")
    tbr = t[t["feature"] == "theta_beta"].set_index("location")["value"]
    np.testing.assert_allclose(tbr[bp.index], bp["theta"] / bp["beta"], rtol=1e-12)
