"""Closed-form statistics of the linearised Hopf network (sub-critical, a < 0).

Around its fixed point the network is a complex Ornstein-Uhlenbeck process
``dz = J z dt + σ (dW₁ + i dW₂)`` with delays entering as phase factors:
``J(f) = diag(a + i2πf₀ - G s) + G (W ∘ e^{-i2πfτ})``. Its transfer function
is ``H(f) = (i2πf I - J(f))⁻¹`` and, with circular white noise,
``S_z(f) = 2σ² H(f) H(f)ᴴ``; the observed ``x = Re z`` has
``S_x(f) = (S_z(f) + conj(S_z(-f))) / 4`` (two-sided). Without delays the
stationary covariance of ``(x, y)`` solves the Lyapunov equation
``M C + C Mᵀ + σ² I = 0``; with delays it is the integral of the CSD over
frequency (computed numerically, with the 1/f² tail added in closed form).

Cost: two N×N complex inverses and one product per frequency (about
60 ms for 76 regions at 89 frequencies on one core); delay phases are
evaluated on the non-zero connections only.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_continuous_lyapunov

from ..errors import ConfigError, DataError
from .masses.hopf import Hopf
from .params import resolve_params

__all__ = ["cov_to_corr", "hopf_covariance", "hopf_csd", "hopf_fc", "hopf_psd"]


def _hopf(weights, params, delays_ms=None):
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise DataError(f"weights must be a square matrix, got shape {w.shape}.")
    if not np.isfinite(w).all() or (w < 0).any():
        raise DataError("weights must be finite and non-negative.")
    p, k = resolve_params(Hopf.params, params or {}, len(w))
    if k != 1:
        raise ConfigError("closed-form statistics take one parameter set (K = 1).")
    if (p["a"] >= 0).any():
        raise ConfigError("the linear (closed-form) statistics hold only below the bifurcation (a < 0).")
    tau = None
    if delays_ms is not None:
        tau = np.asarray(delays_ms, dtype=float)
        if tau.shape != w.shape:
            raise DataError(f"delays of shape {tau.shape} do not match weights {w.shape}.")
        if not np.isfinite(tau).all() or (tau < 0).any():
            raise DataError("delays must be finite and non-negative (check tract lengths and velocity).")
        tau = tau / 1000.0
    return w, {name: v[0] for name, v in p.items()}, tau


def _transfers(w, p, tau, freqs) -> tuple[np.ndarray, np.ndarray]:
    """``H(f)`` and ``conj(H(-f))``, each (F, N, N): the one-sided ``S_x = σ² (H₊H₊ᴴ + H₋H₋ᴴ)``."""
    n = len(w)
    freqs = np.asarray(freqs, dtype=float)
    nf = len(freqs)
    both = np.concatenate([freqs, -freqs])
    a = np.zeros((2 * nf, n, n), dtype=complex)
    diag = np.arange(n)
    a[:, diag, diag] = (2j * np.pi * both[:, None] - (p["a"] + 2j * np.pi * p["f"] - p["G"] * w.sum(axis=1)))
    rows, cols = np.nonzero(w)
    gw = p["G"] * w[rows, cols]
    if tau is None:
        a[:, rows, cols] -= gw
    else:
        phase = np.exp(-2j * np.pi * freqs[:, None] * tau[rows, cols])  # e^{+i2πfτ} is its conjugate
        a[:nf, rows, cols] -= gw * phase
        a[nf:, rows, cols] -= gw * phase.conj()
    h = np.linalg.inv(a)
    return h[:nf], np.conj(h[nf:], out=h[nf:])


def _gram(x: np.ndarray) -> np.ndarray:
    return x @ x.conj().transpose(0, 2, 1)


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
    w, p, tau = _hopf(weights, params, delays_ms)
    n = len(w)
    if gain is not None:
        lg = np.asarray(gain, float)
        if lg.ndim != 2 or lg.shape[1] != n:
            raise ConfigError(f"gain must be (n_channels, {n}); got {lg.shape}.")
    hp, hm = _transfers(w, p, tau, np.atleast_1d(freqs))
    hp *= p["sigma"]  # each region's noise amplitude scales its column: H diag(σ²) Hᴴ
    hm *= p["sigma"]
    if gain is not None:
        hp, hm = lg @ hp, lg @ hm  # the products are then C² instead of N²
    # S_z = 2 H diag(σ²) Hᴴ; S_x(one-sided) = 2 (S_z(f) + conj S_z(-f)) / 4
    out = _gram(hp)
    out += _gram(hm)
    return out


def hopf_psd(weights, freqs, params: dict | None = None, *, delays_ms=None, gain=None) -> np.ndarray:
    """The diagonal of :func:`hopf_csd` (one-sided PSD of ``x``), shape ``(F, N)`` or ``(F, n_channels)``.

    Cheaper than the full CSD: the products are row norms, not matrices.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import hopf_csd, hopf_psd
    >>> w, p = np.array([[0, 1.0], [0.5, 0]]), {"a": -2.0, "G": 1.0, "f": 10.0}
    >>> bool(np.allclose(hopf_psd(w, [9.0, 11.0], p), np.einsum("fii->fi", hopf_csd(w, [9.0, 11.0], p)).real))
    True
    """
    w, p, tau = _hopf(weights, params, delays_ms)
    hp, hm = _transfers(w, p, tau, np.atleast_1d(freqs))
    hp *= p["sigma"]
    hm *= p["sigma"]
    if gain is not None:
        lg = np.asarray(gain, float)
        if lg.ndim != 2 or lg.shape[1] != len(w):
            raise ConfigError(f"gain must be (n_channels, {len(w)}); got {lg.shape}.")
        hp, hm = lg @ hp, lg @ hm
    return (hp.real ** 2 + hp.imag ** 2).sum(axis=2) + (hm.real ** 2 + hm.imag ** 2).sum(axis=2)


def hopf_covariance(weights, params: dict | None = None, *, delays_ms=None, df: float | None = None,
                    fmax: float | None = None) -> np.ndarray:
    """Stationary covariance of ``x``, shape ``(N, N)``.

    Without delays, exactly from the Lyapunov equation. With ``delays_ms``,
    the integral of :func:`hopf_csd` over 0..``fmax`` by the trapezoid
    rule on a grid of step ``df`` (default: half the narrowest damping
    bandwidth ``|a|/2π``, which agrees with the Lyapunov solution to 1e-5
    when the delays are zero), plus the tail beyond ``fmax`` in closed form
    (each node's two Lorentzians, coupling neglected there).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import hopf_covariance
    >>> float(hopf_covariance(np.zeros((1, 1)), {"a": -2.0, "sigma": 1.0})[0, 0])  # sigma^2 / (2 |a|)
    0.25
    """
    w, p, tau = _hopf(weights, params, delays_ms)
    n = len(w)
    if tau is None:
        om = 2 * np.pi * p["f"]
        lin = np.diag(p["a"] - p["G"] * w.sum(axis=1)) + p["G"] * w
        m = np.block([[lin, -np.diag(om)], [np.diag(om), lin]])
        cov = solve_continuous_lyapunov(m, -np.diag(np.tile(p["sigma"] ** 2, 2)))
        return cov[:n, :n]
    damping = np.abs(p["a"]).min()
    df = damping / (2 * np.pi) / 2 if df is None else float(df)
    fmax = float(p["f"].max() + 40 * (np.abs(p["a"]).max() + p["G"] * w.sum(axis=1).max()) / (2 * np.pi)
                 + 20.0) if fmax is None else float(fmax)
    grid = np.arange(0.0, fmax + df / 2, df)
    total = np.zeros((n, n))
    for chunk in np.array_split(grid, max(1, len(grid) // 256)):  # bounded memory
        s = hopf_csd(w, chunk, p, delays_ms=tau * 1000.0).real
        wts = np.full(len(chunk), df)
        wts[chunk == grid[0]] = df / 2
        wts[chunk == grid[-1]] = df / 2
        total += np.tensordot(wts, s, axes=1)
    # beyond fmax each node is an uncoupled damped oscillator: its Lorentzians' tails in closed form
    damp = np.abs(p["a"] - p["G"] * w.sum(axis=1))
    tail = sum(np.pi / 2 - np.arctan(2 * np.pi * (fmax + sign * p["f"]) / damp) for sign in (-1, 1))
    total[np.diag_indices(n)] += p["sigma"] ** 2 * tail / (2 * np.pi * damp)
    return (total + total.T) / 2


def cov_to_corr(cov: np.ndarray) -> np.ndarray:
    """Correlation (functional connectivity) from a covariance matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import cov_to_corr
    >>> cov_to_corr(np.array([[4.0, 2.0], [2.0, 1.0]])).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def hopf_fc(weights, params: dict | None = None, *, delays_ms=None) -> np.ndarray:
    """Functional connectivity (correlation of ``x``) of the linearised Hopf network.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import hopf_fc
    >>> fc = hopf_fc(np.array([[0, 1.0], [1.0, 0]]), {"a": -0.5, "G": 0.3, "f": 0.05})
    >>> bool(fc[0, 1] > 0.2), round(float(fc[0, 0]), 12)
    (True, 1.0)
    """
    return cov_to_corr(hopf_covariance(weights, params, delays_ms=delays_ms))
