"""Closed-form statistics of the linearised Hopf network (sub-critical, a < 0).

Around its fixed point the network is a complex Ornstein-Uhlenbeck process
``dz = J z dt + σ (dW₁ + i dW₂)`` with delays entering as phase factors:
``J(f) = diag(a + i2πf₀ - G s) + G (W ∘ e^{-i2πfτ})``. Its transfer function
is ``H(f) = (i2πf I - J(f))⁻¹`` and, with circular white noise,
``S_z(f) = 2σ² H(f) H(f)ᴴ``; the observed ``x = Re z`` has
``S_x(f) = (S_z(f) + conj(S_z(-f))) / 4`` (two-sided). Without delays the
stationary covariance of ``(x, y)`` solves the Lyapunov equation
``M C + C Mᵀ + σ² I = 0``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_continuous_lyapunov

from ..errors import ConfigError
from .masses.hopf import Hopf
from .params import resolve_params

__all__ = ["hopf_covariance", "hopf_csd"]


def _hopf(weights, params):
    w = np.asarray(weights, dtype=float)
    p, k = resolve_params(Hopf.params, params or {}, len(w))
    if k != 1:
        raise ConfigError("closed-form statistics take one parameter set (K = 1).")
    if (p["a"] >= 0).any():
        raise ConfigError("the linear (closed-form) statistics hold only below the bifurcation (a < 0).")
    return w, {name: v[0] for name, v in p.items()}


def hopf_csd(weights, freqs, params: dict | None = None, *, delays_ms=None, gain=None) -> np.ndarray:
    """Cross-spectral density of ``x`` (one-sided, per Hz) at ``freqs``, shape ``(F, N, N)``.

    With ``gain`` (a lead field, ``(n_channels, N)``, e.g. ``LeadField.gain``)
    the sensor CSD ``L S(f) Lᵀ``, shape ``(F, n_channels, n_channels)``.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import hopf_csd
    >>> s = hopf_csd(np.zeros((1, 1)), [5.0, 10.0, 15.0], {"a": -2.0, "f": 10.0, "sigma": 1.0})
    >>> int(np.argmax(s[:, 0, 0].real))  # the peak is at the node's frequency
    1
    """
    w, p = _hopf(weights, params)
    n = len(w)
    tau = np.zeros_like(w) if delays_ms is None else np.asarray(delays_ms, float) / 1000.0
    base = np.diag(p["a"] + 2j * np.pi * p["f"] - p["G"] * w.sum(axis=1))
    eye = np.eye(n)

    def s_z(f):
        jac = base + p["G"] * w * np.exp(-2j * np.pi * f * tau)
        h = np.linalg.inv(2j * np.pi * f * eye - jac)
        return 2 * p["sigma"] ** 2 * h @ h.conj().T

    out = np.empty((len(np.atleast_1d(freqs)), n, n), dtype=complex)
    for i, f in enumerate(np.atleast_1d(freqs)):
        out[i] = 2 * (s_z(f) + np.conj(s_z(-f))) / 4  # one-sided: twice the two-sided density
    if gain is not None:
        lg = np.asarray(gain, float)
        if lg.ndim != 2 or lg.shape[1] != n:
            raise ConfigError(f"gain must be (n_channels, {n}); got {lg.shape}.")
        out = np.einsum("cn,fnm,dm->fcd", lg, out, lg)
    return out


def hopf_covariance(weights, params: dict | None = None) -> np.ndarray:
    """Stationary covariance of ``x`` without delays (Lyapunov equation), shape ``(N, N)``.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import hopf_covariance
    >>> float(hopf_covariance(np.zeros((1, 1)), {"a": -2.0, "sigma": 1.0})[0, 0])  # sigma^2 / (2 |a|)
    0.25
    """
    w, p = _hopf(weights, params)
    n = len(w)
    om = 2 * np.pi * p["f"]
    lin = np.diag(p["a"] - p["G"] * w.sum(axis=1)) + p["G"] * w
    m = np.block([[lin, -np.diag(om)], [np.diag(om), lin]])
    cov = solve_continuous_lyapunov(m, -p["sigma"] ** 2 * np.eye(2 * n))
    return cov[:n, :n]
