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

Cost: per frequency and sign, one Hermitian product and one Cholesky
inversion of an N×N complex matrix (:func:`_factor_chunks`: about half
the flops of an LU inverse and a product); for 76 regions at 89
frequencies, about 43 ms for the full CSD and 32 ms for the PSD on one
core (``benchmarks/bench_simulate.py``). Delay phases are evaluated on
the non-zero connections only. Written here because no maintained
library computes spectra of delay-coupled linear networks.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_continuous_lyapunov
from scipy.linalg.blas import zherk as _zherk
from scipy.linalg.lapack import zpotrf as _zpotrf
from scipy.linalg.lapack import zpotri as _zpotri
from scipy.linalg.lapack import ztrtri as _ztrtri

from ..errors import ConfigError, DataError
from .masses.hopf import Hopf
from .params import resolve_params

__all__ = ["cov_to_corr", "hopf_covariance", "hopf_csd", "hopf_fc", "hopf_psd", "hopf_psd_jacobian"]


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


_CHUNK = 4  # frequencies per batch: their 2 x 4 matrices (76 regions) stay in the L2 cache


def _factor_chunks(w, p, tau, freqs, inverse: bool):
    """Yield ``(slice, y)`` for a few frequencies at a time; ``y`` has shape ``(2, m, N, N)``.

    ``y[0, q]`` belongs to ``H(f)`` and ``y[1, q]`` to ``conj(H(-f))``, the
    two terms of the one-sided ``S_x(f) = H₊ D H₊ᴴ + H₋ D H₋ᴴ`` with
    ``D = diag(σ²)``. With ``inverse=True`` each is (the upper triangle of)
    ``H D Hᴴ``; otherwise a factor ``X`` with ``H D Hᴴ = X Xᴴ``, from which
    PSDs are row norms. ``y`` is a reused buffer: use it before the next.

    The route is ``H D Hᴴ = (Aᴴ D⁻¹ A)⁻¹`` with ``A = i2πf I - J(f)``:
    one Hermitian product ``M = Bᴴ B`` (``B = D^{-1/2} A``, ``zherk``) and
    a Cholesky inversion (``zpotrf`` then ``zpotri``, or ``ztrtri`` for
    the factor ``U⁻¹``), about half the flops of an LU inverse followed
    by a full product. It squares the condition number, so where the
    bound ``cond(M) <= tr(M) tr(M⁻¹)`` (free once ``M⁻¹`` is known) says
    it might lose more than about 1e-11 of relative accuracy (near-
    critical, strongly coupled networks), that matrix takes the LU route
    instead (``X = B⁻¹``), as every matrix does when a region has no
    noise (``σ = 0``, ``D`` singular).
    """
    n = len(w)
    sigma = p["sigma"]
    hermitian = bool((sigma > 0).all())
    scale = 1.0 / sigma if hermitian else np.ones(n)  # B = D^{-1/2} A divides A's rows by σ
    local = p["a"] - p["G"] * w.sum(axis=1)
    # conj(A(-f)) = i2πf I - diag(a - i2πf₀ - G s) - G W∘e^{-i2πfτ}: the same phases, the other spin
    spins = np.stack([local + 2j * np.pi * p["f"], local - 2j * np.pi * p["f"]])[:, None, :]
    rows, cols = np.nonzero(w)
    gw = p["G"] * w[rows, cols] * scale[rows]
    lags = None if tau is None else -2j * np.pi * tau[rows, cols]
    diag = np.arange(n)
    # the matrices are built transposed (at[h, q].T is B, Fortran-ordered: LAPACK takes it as it is)
    # and LAPACK works in place on out[h, q].T, so out holds the results transposed
    at = np.empty((2, _CHUNK, n, n), dtype=complex)
    out = np.empty_like(at)
    for start in range(0, len(freqs), _CHUNK):
        f = freqs[start : start + _CHUNK]
        m = len(f)
        b = at[:, :m]
        b[...] = 0.0
        b[:, :, diag, diag] = (2j * np.pi * f[None, :, None] - spins) * scale
        b[:, :, cols, rows] -= gw if lags is None else gw * np.exp(f[:, None] * lags)
        y = out[:, :m].transpose(0, 1, 3, 2)
        if not hermitian:
            y[...] = np.linalg.inv(b.transpose(0, 1, 3, 2)) * sigma  # H D^{1/2}
            if inverse:
                y[...] = _gram(y)
            yield slice(start, start + m), y
            continue
        for h in range(2):
            for q in range(m):
                mat = _zherk(1.0, b[h, q].T, trans=2, c=y[h, q], overwrite_c=1)  # M = Bᴴ B (upper)
                trace = mat.diagonal().real.sum()
                u, info = _zpotrf(mat, lower=0, overwrite_a=1, clean=1)
                if info == 0:
                    r, info = (
                        _zpotri(u, lower=0, overwrite_c=1) if inverse else _ztrtri(u, lower=0, overwrite_c=1)
                    )
                    # cond(M) <= tr(M) tr(M⁻¹) (positive definite), and tr(M⁻¹) = tr(X Xᴴ) = |X|²
                    inv_trace = r.diagonal().real.sum() if inverse else np.vdot(r.T, r.T).real
                    if info == 0 and trace * inv_trace <= _COND_MAX:
                        if not np.shares_memory(r, out[h, q]):  # (f2py copied instead of working in place)
                            y[h, q] = r
                        continue
                try:
                    x = np.linalg.inv(b[h, q].T)  # B⁻¹ = H D^{1/2}
                except np.linalg.LinAlgError:
                    raise DataError(
                        "the linearised network is singular at some frequency (an undamped "
                        "mode); make the damping a more negative."
                    ) from None
                y[h, q] = x @ x.conj().T if inverse else x
        yield slice(start, start + m), y


# above this bound on cond(Bᴴ B), invert B by LU (see _factor_chunks): measured on the 76-region
# template over a in [-30, -0.5], G in [0, 1000] and velocities 0.5-100 m/s, the Hermitian route's
# relative error stayed below 3e-19 times the bound, so this keeps it below about 3e-11
_COND_MAX = 1e8


def _gram(x: np.ndarray) -> np.ndarray:
    return x @ x.conj().swapaxes(-1, -2)


def _hermitian(upper: np.ndarray) -> np.ndarray:
    """Full Hermitian matrices from their upper triangles (the lower parts are overwritten)."""
    n = upper.shape[-1]
    lo = np.tril_indices(n, -1)
    upper[..., lo[0], lo[1]] = upper[..., lo[1], lo[0]].conj()
    return upper


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
    lg = _gain(gain, len(w))
    freqs = np.atleast_1d(np.asarray(freqs, dtype=float))
    n = len(w) if lg is None else len(lg)
    out = np.empty((len(freqs), n, n), dtype=complex)
    for sl, y in _factor_chunks(w, p, tau, freqs, inverse=lg is None):
        if lg is None:
            np.add(y[0], y[1], out=out[sl])  # upper triangles
        else:
            x = _times(lg, y)  # L X: L S Lᵀ = Σ± (L X)(L X)ᴴ, C² products instead of N²
            out[sl] = _gram(x[0]) + _gram(x[1])
    return _hermitian(out) if lg is None else out


def _gain(gain, n: int) -> np.ndarray | None:
    if gain is None:
        return None
    lg = np.asarray(gain, float)
    if lg.ndim != 2 or lg.shape[1] != n:
        raise ConfigError(f"gain must be (n_channels, {n}); got {lg.shape}.")
    return lg


def _times(lg: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``lg @ r`` for a real ``lg`` and complex ``r``, as two real products (half the flops)."""
    return (lg @ r.real) + 1j * (lg @ r.imag)


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
    lg = _gain(gain, len(w))
    freqs = np.atleast_1d(np.asarray(freqs, dtype=float))
    out = np.empty((len(freqs), len(w) if lg is None else len(lg)))
    for sl, y in _factor_chunks(w, p, tau, freqs, inverse=False):
        x = y if lg is None else _times(lg, y)
        out[sl] = (x.real**2 + x.imag**2).sum(axis=3).sum(axis=0)  # S = X Xᴴ: row norms
    return out


#: below this global coupling the G derivative takes the direct route (the identity of
#: :func:`_diag_product` divides by G and would lose digits to cancellation)
_MIN_G_IDENTITY = 1e-3


def _diag_product(qm, e_g, rm, qr, a_mat, psd, strength, g) -> np.ndarray:
    """``Re diag(Q E_G R)`` ``(F, C)``, summed over both spins, for ``E_G = diag(s) - W∘Φ``.

    Directly it costs a ``C × N²`` product per frequency. With ``A = diag(d) - G·W∘Φ`` (``d``, the
    diagonal of ``A``; the connectome has no self-connections) ``W∘Φ = (diag(d) - A)/G``, and
    ``Q A R = L H A H D Qᴴ = Q D Qᴴ``, whose diagonal (summed over the spins) is the PSD itself, so
    ``diag(Q E_G R) = Σ_j Q_cj R_jc (s_j - d_j/G) + P_c/G``: element-wise, ``C × N`` per frequency
    instead (a quarter of the Jacobian's cost for a 306-sensor MEG).
    """
    if g < _MIN_G_IDENTITY:
        return np.einsum("hfcj,hfjc->fc", qm, np.matmul(e_g, rm)).real
    d = np.diagonal(a_mat, axis1=-2, axis2=-1)  # (2, F, N)
    own = np.einsum("hfcj,hfj->fc", qr, strength[None, None] - d / g)
    return own.real + psd / g


def transfer(w, p, tau, freqs, lg) -> dict:
    """The pieces of the sensor CSD's derivatives: ``Q = L H`` and ``R = H D Qᴴ`` per spin and frequency.

    With ``A(f) = i2πf I - J(f)`` and ``H = A⁻¹``, the sensor CSD is
    ``S = Σ± Q D Qᴴ`` and a change ``dA = E dθ`` gives ``dS = -Σ± (Q E R + (Q E R)ᴴ)``
    (:func:`hopf_psd_jacobian` takes its diagonal, :mod:`neurotwin.model.csd_jacobian` all of it).

    Returns
    -------
    pieces : dict
        ``q`` ``(2, F, C, N)``, ``r`` ``(2, F, N, C)``, ``e_g`` ``(F, N, N)`` (``dA/dG``), ``e_d``
        ``(F, N, N)`` (``dA/d log τ``, None without delays), ``a_mat`` ``(2, F, N, N)``, ``spins``
        ``(2, 1, 1)`` (+1 for ``H(f)``, -1 for ``conj(H(-f))``) and the gain ``lg`` (the identity
        without one).
    """
    if (p["sigma"] <= 0).any():
        raise ConfigError("the spectra's derivatives need every region's noise sigma > 0.")
    n = len(w)
    lg = np.eye(n) if lg is None else lg
    local = p["a"] - p["G"] * w.sum(axis=1)
    idx = np.arange(n)
    f = freqs[:, None, None]
    phase = 1.0 if tau is None else np.exp(-2j * np.pi * f * tau[None])  # (F, N, N)
    coupled = w[None] * phase + 0j  # W ∘ e^{-i2πfτ}
    e_g = -coupled  # dA/dG = diag(s) - W∘Φ
    e_g[:, idx, idx] += w.sum(axis=1)
    spins = np.array([1.0, -1.0])[:, None, None]
    a_mat = np.broadcast_to(-p["G"] * coupled, (2, len(freqs), n, n)).copy()
    a_mat[:, :, idx, idx] += 2j * np.pi * freqs[None, :, None] - (
        local[None, None] + spins * 2j * np.pi * p["f"][None, None]
    )
    try:
        h = np.linalg.inv(a_mat)  # (2, F, N, N)
    except np.linalg.LinAlgError:
        raise DataError(
            "the linearised network is singular at some frequency (an undamped "
            "mode); make the damping a more negative."
        ) from None
    qm = np.matmul(lg, h)  # L H, (2, F, C, N)
    rm = np.matmul(h * p["sigma"] ** 2, qm.conj().swapaxes(-1, -2))  # H D Qᴴ, (2, F, N, C)
    e_d = None if tau is None else p["G"] * coupled * (2j * np.pi * f * tau[None])  # dA/dlog(τ)
    return {
        "q": qm,
        "r": rm,
        "e_g": e_g,
        "e_d": e_d,
        "a_mat": a_mat,
        "spins": spins,
        "lg": lg,
    }


def hopf_psd_jacobian(
    weights, freqs, params: dict | None = None, *, delays_ms=None, gain=None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`hopf_psd` and its exact derivatives by every region's ``a`` and ``f``, ``G`` and the delays.

    With ``A(f) = i2πf I - J(f)`` and ``H = A⁻¹``, the sensor PSD is
    ``P_c = Σ± [L H D Hᴴ Lᵀ]_cc``; a change ``dA = E dθ`` gives
    ``dP_c = -2 Re[(L H E H D Hᴴ Lᵀ)_cc] dθ``. With ``Q = L H`` and
    ``R = H D Qᴴ`` this is ``-2 Re Σ_jk Q_cj E_jk R_kc``: for a region's
    own damping or frequency ``E`` has one non-zero entry, so all regions'
    derivatives cost one element-wise product per frequency, and ``G`` and
    the delays one matrix product each. One LU inverse per frequency and
    sign; about the cost of 2-3 PSD evaluations (instead of one per
    parameter by finite differences).

    Parameters
    ----------
    weights, freqs, params, delays_ms, gain
        As in :func:`hopf_psd` (``sigma`` must be positive).

    Returns
    -------
    psd : ndarray, shape (F, C)
        ``C`` channels (``gain`` rows) or regions.
    jacobian : dict
        ``"a"`` and ``"f"``: ``(F, C, N)``, the derivative by each
        region's damping (1/s) and intrinsic frequency (Hz); ``"G"``:
        ``(F, C)``; ``"log_delay"``: ``(F, C)``, by the log of a common
        scale of all delays (``-d/d log velocity``; zero without delays).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import hopf_psd, hopf_psd_jacobian
    >>> w, p = np.array([[0, 1.0], [0.5, 0]]), {"a": -2.0, "G": 1.0, "f": 10.0, "sigma": 1.0}
    >>> psd, jac = hopf_psd_jacobian(w, [9.0, 11.0], p)
    >>> up = hopf_psd(w, [9.0, 11.0], {**p, "G": 1.0 + 1e-6})
    >>> bool(np.allclose((up - psd) / 1e-6, jac["G"], rtol=1e-4))
    True
    """
    w, p, tau = _hopf(weights, params, delays_ms)
    freqs = np.atleast_1d(np.asarray(freqs, dtype=float))
    t = transfer(w, p, tau, freqs, _gain(gain, len(w)))
    qm, rm, e_g, a_mat, spins = t["q"], t["r"], t["e_g"], t["a_mat"], t["spins"]
    var, lg = p["sigma"] ** 2, t["lg"]
    qr = qm * rm.swapaxes(-1, -2)  # Q_cj R_jc
    psd = ((qm.real**2 + qm.imag**2) @ var).sum(axis=0)
    jac = {
        "a": 2 * qr.real.sum(axis=0),  # E = -e_j e_jᵀ
        "f": 2 * (spins[..., None] * 2j * np.pi * qr).real.sum(axis=0),  # E = ∓i2π e_j e_jᵀ
        "G": -2 * _diag_product(qm, e_g, rm, qr, a_mat, psd, w.sum(axis=1), p["G"]),
        "log_delay": np.zeros((len(freqs), len(lg))),
    }
    if t["e_d"] is not None:
        jac["log_delay"] = -2 * np.einsum("hfcj,hfjc->fc", qm, np.matmul(t["e_d"], rm)).real
    return psd, jac


def hopf_covariance(
    weights, params: dict | None = None, *, delays_ms=None, df: float | None = None, fmax: float | None = None
) -> np.ndarray:
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
    fmax = (
        float(p["f"].max() + 40 * (np.abs(p["a"]).max() + p["G"] * w.sum(axis=1).max()) / (2 * np.pi) + 20.0)
        if fmax is None
        else float(fmax)
    )
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
