"""Observation models: Balloon-Windkessel BOLD."""

from __future__ import annotations

import numpy as np
import pytest

from neurotwin.errors import ConfigError, DataError
from neurotwin.model import balloon_windkessel, bold_steady_state


@pytest.mark.parametrize("z0", [0.1, 0.3, -0.1])
def test_bold_of_a_constant_input_settles_to_the_steady_state(z0):
    bold = balloon_windkessel(np.full((60_000, 2), z0), 1000.0)  # 60 s at 1 kHz
    assert bold[-1] == pytest.approx([bold_steady_state(z0)] * 2, rel=1e-3)
    assert np.sign(bold[-1, 0]) == np.sign(z0)  # more activity, more BOLD


def test_bold_lags_a_brief_input_by_seconds():
    z = np.zeros((30_000, 1))
    z[1000:1100] = 1.0  # 100 ms burst at 1 s
    bold = balloon_windkessel(z, 1000.0)[:, 0]
    peak = np.argmax(bold) / 1000.0
    assert 3.0 < peak - 1.0 < 7.0  # the hemodynamic response peaks ~4-6 s later
    assert bold.min() < 0  # post-stimulus undershoot


def test_tr_subsampling_and_bad_input():
    assert balloon_windkessel(np.zeros((4, 1000, 3)), 100.0, tr=0.72).shape == (4, 13, 3)
    with pytest.raises(ConfigError, match="valid"):
        balloon_windkessel(np.zeros((10, 1)), 100.0, kapa=1.0)
    with pytest.raises(ConfigError, match="too coarse"):
        balloon_windkessel(np.zeros((10, 1)), 1.0)
    with pytest.raises(DataError, match="finite"):
        balloon_windkessel(np.full((10, 1), np.nan), 100.0)


def test_psd_jacobian_equals_finite_differences():
    from neurotwin.model import hopf_psd, hopf_psd_jacobian

    rng = np.random.default_rng(3)
    n = 6
    w = rng.random((n, n))
    np.fill_diagonal(w, 0)
    lead = rng.standard_normal((4, n))
    tau = rng.random((n, n)) * 20
    p = {"a": -rng.uniform(3, 8, n), "f": rng.uniform(8, 12, n), "G": 0.7, "sigma": rng.uniform(0.5, 1.5, n)}
    freqs = np.arange(2.0, 40.0)
    psd, jac = hopf_psd_jacobian(w, freqs, p, delays_ms=tau, gain=lead)
    np.testing.assert_allclose(psd, hopf_psd(w, freqs, p, delays_ms=tau, gain=lead), rtol=1e-12)
    h = 1e-5

    def central(key, j=None):
        up, down = dict(p), dict(p)
        if j is None:
            up[key], down[key] = p[key] + h, p[key] - h
        else:
            up[key], down[key] = p[key].copy(), p[key].copy()
            up[key][j] += h
            down[key][j] -= h
        return (
            hopf_psd(w, freqs, up, delays_ms=tau, gain=lead)
            - hopf_psd(w, freqs, down, delays_ms=tau, gain=lead)
        ) / (2 * h)

    def close(exact, numeric):
        np.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-6 * np.abs(numeric).max())

    for name in ("a", "f"):
        for j in range(n):
            close(jac[name][:, :, j], central(name, j))
    close(jac["G"], central("G"))
    slower = (
        hopf_psd(w, freqs, p, delays_ms=tau * np.exp(h), gain=lead)
        - hopf_psd(w, freqs, p, delays_ms=tau * np.exp(-h), gain=lead)
    ) / (2 * h)
    close(jac["log_delay"], slower)
