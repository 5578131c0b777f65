"""The twin in a notebook: named parameters with units, readable reprs, simulated recordings, honest flags."""

from __future__ import annotations

import logging

import mne
import numpy as np
import pytest

from neurotwin.errors import ConfigError, DataError
from neurotwin.model import Hopf, simulate
from neurotwin.model.synthesis import gaussian_from_csd
from neurotwin.twin import Posterior, Prior, Twin, TwinState, TwinStore
from neurotwin.twin.fitting import implausible

from .conftest import CHANNELS

KEY = "notebook-test-key"


@pytest.fixture(scope="module")
def fitted(make_session, small_connectome):
    features = make_session(f=10.0, seed=4)
    return Twin("01", connectome=small_connectome, restarts=0).fit(features, session="01"), features


def test_parameters_have_names_and_units_that_survive_the_store(fitted, tmp_path):
    twin, _ = fitted
    table = twin.states_[0].posterior.summary()
    f = table.set_index("name").loc["f"]
    assert f["label"] == "alpha frequency" and f["unit"] == "Hz" and f["low"] < f["median"] < f["high"]
    assert set(table["name"]) == {n for n in twin.states_[0].posterior.names if "[" not in n}
    offsets = twin.states_[0].posterior.summary(offsets=True)
    assert "alpha frequency offset, R3" in set(offsets["label"])
    store = TwinStore(tmp_path / "twins.sqlite", secret=KEY)
    store.save(twin)
    again = store.load("01").states_[0].posterior
    assert again.labels == twin.states_[0].posterior.labels and again.units == twin.states_[0].posterior.units
    # short, readable reprs instead of dataclass dumps of arrays
    for obj in (again, store.load("01").states_[0], store):
        text = repr(obj)
        assert len(text) < 400 and "array(" not in text
    assert "alpha frequency" in repr(again) and "Hz [" in repr(again) and "more)" in repr(again)


def test_a_simulated_recording_has_the_twins_spectrum(fitted):
    twin, features = fitted
    raw = twin.simulate(120.0, sfreq=250.0, random_state=1)
    assert isinstance(raw, mne.io.BaseRaw) and raw.ch_names == CHANNELS and raw.info["sfreq"] == 250.0
    assert raw.get_montage() is not None
    psd = raw.compute_psd(fmin=2.0, fmax=40.0, n_fft=1000, verbose="error")
    freqs, power = psd.freqs, psd.get_data()
    alpha = (freqs >= 7) & (freqs <= 14)
    peak = freqs[alpha][np.argmax(power.mean(axis=0)[alpha])]
    assert abs(peak - twin.states_[0].diagnostics["model_iaf"]) <= 0.5
    model = twin.predict()  # the model's own PSD on the fitted grid
    grid = np.asarray(model.coords["freq"])
    sim = np.stack([np.interp(grid, freqs, p) for p in power])
    assert model.unit == "uV^2/Hz" and raw.get_channel_types() == ["eeg"] * len(CHANNELS)
    # the same level (in V²/Hz: MNE's SI units, from the features' µV²/Hz) and shape
    assert np.median(np.abs(np.log(sim / (model.values * 1e-12)))) < 0.15
    again = twin.simulate(120.0, sfreq=250.0, random_state=1)
    np.testing.assert_array_equal(again.get_data(), raw.get_data())  # seeded


def test_simulate_says_what_it_needs(fitted, small_connectome, tmp_path):
    twin, features = fitted
    store = TwinStore(tmp_path / "twins.sqlite", secret=KEY)
    store.save(twin)
    loaded = store.load("01")
    with pytest.raises(ConfigError, match="pass the session's features"):
        loaded.simulate(10.0)
    assert loaded.simulate(2.0, features=features).ch_names == CHANNELS
    with pytest.raises(ConfigError, match="duration"):
        twin.simulate(-1.0)


def test_implausible_estimates_and_poor_fits_are_flagged(make_session, small_connectome, caplog):
    prior = Prior(
        ["f", "velocity"],
        ["identity", "log"],
        np.array([10.0, np.log(6.0)]),
        np.array([2.5, 0.5]),
        labels=["alpha frequency", "conduction velocity"],
        units=["Hz", "m/s"],
    )
    post = Posterior(
        prior.names,
        prior.transforms,
        np.array([18.8, np.log(328.0)]),
        np.eye(2) * 1e-4,
        labels=prior.labels,
        units=prior.units,
    )
    flags = implausible(post, prior)
    assert set(flags) == {"f", "velocity"} and "m/s" in flags["velocity"]
    state = TwinState(0, "01", 0.0, post, diagnostics={"implausible": flags, "at_bound": ["velocity"]})
    assert all(state.summary()["note"] != "")
    # a spectrum the model cannot reproduce (its frequencies shuffled): a logged warning and a flag
    features = make_session(seed=5)
    psd = features.arrays["psd"]
    shuffled = psd.values[:, np.random.default_rng(0).permutation(psd.shape[1])]
    features.arrays["psd"] = type(psd)(shuffled, psd.dims, psd.coords, unit=psd.unit)
    with caplog.at_level(logging.WARNING, logger="neurotwin"):
        twin = Twin("02", connectome=small_connectome).fit(features)
    d = twin.states_[0].diagnostics
    assert d["poor_fit"] and d["r_log_psd"] < 0.8 and d["warnings"][0].startswith("poor fit")
    assert any("poor fit" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_gaussian_draws_have_the_requested_cross_spectrum():
    sfreq, n = 200.0, 200_000
    freqs = np.linspace(0, sfreq / 2, 201)
    p1 = 1.0 / (1.0 + (freqs / 10.0) ** 2)  # a low-pass spectrum
    p2 = np.full_like(freqs, 0.5)
    coh = 0.6 * np.exp(-(((freqs - 20.0) / 5.0) ** 2))  # coherent only around 20 Hz
    csd = np.zeros((len(freqs), 2, 2), complex)
    csd[:, 0, 0], csd[:, 1, 1] = p1, p2
    csd[:, 0, 1] = np.sqrt(coh * p1 * p2) * np.exp(1j * 0.5)
    csd[:, 1, 0] = np.conj(csd[:, 0, 1])
    x = gaussian_from_csd(csd, freqs, n, sfreq, random_state=0)
    from scipy.signal import coherence, welch

    f, pxx = welch(x, fs=sfreq, nperseg=400)
    sel = (f > 2) & (f < 90)
    np.testing.assert_allclose(pxx[0, sel], np.interp(f[sel], freqs, p1), rtol=0.15)
    np.testing.assert_allclose(pxx[1, sel], np.interp(f[sel], freqs, p2), rtol=0.15)
    _, c = coherence(x[0], x[1], fs=sfreq, nperseg=400)
    assert abs(c[np.argmin(np.abs(f - 20))] - 0.6) < 0.1 and c[np.argmin(np.abs(f - 60))] < 0.05
    with pytest.raises(DataError, match="Nyquist"):
        gaussian_from_csd(csd[:100], freqs[:100], n, sfreq)


def test_simulation_to_raw():
    sim = simulate(
        Hopf(),
        np.zeros((3, 3)),
        {"a": -1.0, "f": 10.0},
        duration=2.0,
        dt=1e-3,
        decimate=4,
        transient=0.0,
        random_state=0,
    )
    raw = sim.to_raw(ch_names=["A", "B", "C"])
    np.testing.assert_array_equal(raw.get_data(), sim.data[0].T)
    assert "3 regions" in repr(sim) and "250 Hz" in repr(sim)
    with pytest.raises(DataError, match="3 regions"):
        sim.to_raw(mne.create_info(2, 250.0, "misc"))
    with pytest.raises(ConfigError, match="names"):
        sim.to_raw(ch_names=["A"])
