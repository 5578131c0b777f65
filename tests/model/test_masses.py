"""Neural masses: known behaviour (Hopf, Jansen-Rit, Wilson-Cowan), closed form vs simulation, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from neurotwin.errors import ConfigError, DataError
from neurotwin.model import Hopf, hopf_covariance, hopf_csd, simulate


def _peak(x, sfreq):
    f, p = welch(x, fs=sfreq, nperseg=min(len(x), int(4 * sfreq)))
    return f[np.argmax(p)]


def test_supercritical_node_oscillates_at_its_frequency_subcritical_decays():
    sim = simulate(
        Hopf(),
        np.zeros((2, 2)),
        {"a": [[4.0, -1.0]], "f": [[10.0, 7.0]], "sigma": 0.0},
        duration=8.0,
        dt=1e-3,
        decimate=1,
        transient=2.0,
        random_state=0,
    )
    x = sim.data[0]
    assert abs(_peak(x[:, 0], sim.sfreq) - 10.0) <= 0.25
    assert np.sqrt(2) * x[:, 0].std() == pytest.approx(2.0, rel=0.02)  # limit-cycle radius sqrt(a)
    assert np.abs(x[-1000:, 1]).max() < 1e-3  # a < 0, no noise: decays to the fixed point


def test_batch_gives_the_same_as_separate_runs():
    params = {"a": [-1.0, -3.0], "sigma": 0.5}
    both = simulate(Hopf(), np.ones((3, 3)) - np.eye(3), params, duration=1.0, dt=1e-3, random_state=1)
    assert both.data.shape == (2, 100, 3)
    assert not np.allclose(both.data[0], both.data[1])


@pytest.mark.slow
def test_closed_form_psd_and_covariance_match_a_long_simulation():
    rng = np.random.default_rng(3)
    w = rng.uniform(0, 1, (3, 3))
    np.fill_diagonal(w, 0)
    params = {"a": -4.0, "f": 10.0, "G": 1.0, "sigma": 1.0}
    sim = simulate(Hopf(), w, params, duration=400.0, dt=1e-3, decimate=4, method="heun", random_state=7)
    x = sim.data[0]
    cov = hopf_covariance(w, params)
    # sampling error of a covariance over ~400 s with a 0.25 s correlation time: a few percent
    np.testing.assert_allclose(np.cov(x.T), cov, rtol=0.1, atol=0.05 * np.abs(cov).max())
    f, p = welch(x.T, fs=sim.sfreq, nperseg=int(4 * sim.sfreq))
    band = (f > 2) & (f < 30)
    theory = hopf_csd(w, f[band], params)
    ratio = p[:, band] / np.stack([theory[:, i, i].real for i in range(3)])
    assert np.abs(np.median(ratio, axis=1) - 1).max() < 0.1  # Welch over 200 segments: ~7 % error per bin
    # through a lead field: the sensor spectrum of the projected simulation matches L S L^T
    gain = np.random.default_rng(0).normal(size=(2, 3))
    f, ps = welch((x @ gain.T).T, fs=sim.sfreq, nperseg=int(4 * sim.sfreq))
    sensor = hopf_csd(w, f[band], params, gain=gain)
    ratio = ps[:, band] / np.stack([sensor[:, c, c].real for c in range(2)])
    assert np.abs(np.median(ratio, axis=1) - 1).max() < 0.1


def test_delays_shift_cross_spectral_phase_as_tau_predicts():
    w = np.array([[0.0, 0.0], [1.0, 0.0]])  # 1 drives 0 -> node 1 listens to node 0
    tau = np.array([[0.0, 0.0], [20.0, 0.0]])  # 20 ms
    params = {"a": [[-2.0, -30.0]], "f": 10.0, "G": 20.0, "sigma": [1.0]}
    csd = hopf_csd(w, [10.0], params, delays_ms=tau)[0]
    # node 1 is node 0 delayed by 20 ms (plus its own filtering): phase lag grows with tau
    lag20 = np.angle(csd[0, 1])
    lag40 = np.angle(hopf_csd(w, [10.0], params, delays_ms=2 * tau)[0][0, 1])
    expected = 2 * np.pi * 10.0 * 0.020
    assert np.angle(np.exp(1j * (lag40 - lag20))) == pytest.approx(expected, abs=0.05)


def test_bad_input_is_named():
    with pytest.raises(DataError, match="square"):
        simulate(Hopf(), np.ones((2, 3)))
    with pytest.raises(DataError, match="non-negative"):
        simulate(Hopf(), -np.ones((2, 2)))
    with pytest.raises(DataError, match="delays"):
        simulate(Hopf(), np.ones((2, 2)), delays_ms=np.full((2, 2), np.nan))
    with pytest.raises(ConfigError, match="Did you mean 'sigma'"):
        simulate(Hopf(), np.ones((2, 2)), {"sigm": 1.0})
    with pytest.raises(ConfigError, match="outside its bounds"):
        simulate(Hopf(), np.ones((2, 2)), {"f": -3.0})
    with pytest.raises(ConfigError, match="below the bifurcation"):
        hopf_csd(np.zeros((1, 1)), [10.0], {"a": 0.5})


def test_jansen_rit_with_standard_parameters_peaks_near_10_hz():
    from neurotwin.model import JansenRit

    sim = simulate(
        JansenRit(), np.zeros((1, 1)), {}, duration=20.0, dt=5e-4, decimate=4, transient=2.0, random_state=0
    )
    peak = _peak(sim.data[0, :, 0], sim.sfreq)
    assert 9.0 <= peak <= 11.5


def test_jansen_rit_coupling_drives_the_listener():
    from neurotwin.model import JansenRit

    w = np.array([[0.0, 0.0], [1.0, 0.0]])  # node 1 listens to node 0
    params = {"G": [0.0, 10.0], "sigma": 2.0}  # K = 2: uncoupled, coupled
    sim = simulate(JansenRit(), w, params, duration=5.0, dt=5e-4, decimate=4, transient=1.0, random_state=2)
    # the listener's input rises by G * rate (~50 pulses/s): its mean potential moves, the driver's not
    assert abs(sim.data[1, :, 1].mean() - sim.data[0, :, 1].mean()) > 0.2
    assert abs(sim.data[1, :, 0].mean() - sim.data[0, :, 0].mean()) < 0.2


def test_wilson_cowan_oscillates_between_two_bifurcations():
    from neurotwin.model import WilsonCowan

    # neurolib's Wilson-Cowan parameters (Cakan et al. 2021): a limit cycle for intermediate input
    prm = {
        "c_ee": 16.0,
        "c_ei": 12.0,
        "c_ie": 15.0,
        "c_ii": 3.0,
        "a_e": 1.5,
        "a_i": 1.5,
        "theta_e": 3.0,
        "theta_i": 3.0,
        "tau_e": 0.0025,
        "tau_i": 0.00375,
        "sigma": 0.0,
        "P": [[0.0], [1.5], [3.0]],
    }
    sim = simulate(
        WilsonCowan(),
        np.zeros((1, 1)),
        prm,
        duration=2.0,
        dt=1e-4,
        decimate=10,
        transient=1.0,
        random_state=0,
    )
    low, mid, high = (sim.data[k, :, 0] for k in range(3))
    assert low.std() < 1e-6 and high.std() < 1e-6  # fixed points below and above
    assert mid.std() > 0.05 and 20.0 < _peak(mid, sim.sfreq) < 100.0  # an oscillation in between
    assert high.mean() > low.mean()
