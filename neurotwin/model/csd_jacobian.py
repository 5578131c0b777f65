"""The sensor cross-spectrum of the linearised Hopf network and its exact derivatives (all of it).

:func:`~neurotwin.model.hopf_psd_jacobian` differentiates the diagonal of
the sensor CSD; a likelihood of the whole matrix (the complex-Wishart
Whittle likelihood of :mod:`neurotwin.twin.objectives.eeg_csd`) needs the
derivative of every entry. With ``Q = L H`` and ``R = H D Qᴴ`` per spin
(:func:`~neurotwin.model.spectra.transfer`), ``S = Σ± Q D Qᴴ`` and a change
``dA = E dθ`` of the network matrix gives ``dS = -Σ± (Q E R + (Q E R)ᴴ)``.

Two uses, two costs:

* a **contraction** ``tr(W dS/dθ)`` for given Hermitian ``W(f)`` (the
  gradient of a likelihood, ``W = ∂ℓ/∂S``): ``tr(W Q E R) = tr(E M)`` with
  ``M = R W Q`` (``N × N``), one matrix pair per frequency and spin for all
  of the regions' dampings and frequencies, the coupling and the delays
  (:func:`contract`);
* the **dense** derivatives at one frequency, ``(2N + 2, C, C)``, for the
  expected information (:func:`dense_derivatives`): each region's are of
  rank two (``Q[:, j] R[j, :]`` and its transpose conjugate).

Written here because no maintained library differentiates the spectra of
delay-coupled linear networks.

Examples
--------
>>> import numpy as np
>>> from neurotwin.model.csd_jacobian import contract, hopf_csd_factors
>>> w, p = np.array([[0, 1.0], [0.5, 0]]), {"a": -2.0, "G": 1.0, "f": 10.0, "sigma": 1.0}
>>> fac = hopf_csd_factors(w, [9.0, 11.0], p)
>>> wmat = np.broadcast_to(np.eye(2), (1, 2, 2, 2))  # tr(dS): the PSDs' summed derivative
>>> up = hopf_csd_factors(w, [9.0, 11.0], {**p, "G": 1.0 + 1e-6})["csd"]
>>> fd = np.einsum("fii->", up - fac["csd"]).real / 1e-6
>>> bool(np.isclose(contract(fac, wmat)["G"][0], fd, rtol=1e-4))
True
"""

from __future__ import annotations

import numpy as np

from .spectra import _gain, _hopf, transfer

__all__ = ["contract", "dense_derivatives", "hopf_csd_factors"]


def hopf_csd_factors(weights, freqs, params: dict | None = None, *, delays_ms=None, gain=None) -> dict:
    """The sensor CSD ``(F, C, C)`` (``"csd"``) with what its derivatives need (``q``, ``r``, ``e_g``, ...).

    Parameters
    ----------
    weights, freqs, params, delays_ms, gain
        As in :func:`neurotwin.model.hopf_csd` (``sigma`` must be positive).

    Returns
    -------
    factors : dict
        ``csd`` and the pieces of :func:`~neurotwin.model.spectra.transfer`, with ``freqs``.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import hopf_csd
    >>> from neurotwin.model.csd_jacobian import hopf_csd_factors
    >>> w, p = np.array([[0, 1.0], [0.5, 0]]), {"a": -2.0, "G": 1.0, "f": 10.0}
    >>> bool(np.allclose(hopf_csd_factors(w, [9.0], p)["csd"], hopf_csd(w, [9.0], p)))
    True
    """
    w, p, tau = _hopf(weights, params, delays_ms)
    freqs = np.atleast_1d(np.asarray(freqs, dtype=float))
    t = transfer(w, p, tau, freqs, _gain(gain, len(w)))
    var = p["sigma"] ** 2
    q = t["q"]
    t["csd"] = np.matmul(q * var, q.conj().swapaxes(-1, -2)).sum(axis=0)  # Σ± Q D Qᴴ
    t["freqs"] = freqs
    # E R for the coupling and the delays, which every contraction reuses: tr(E M) = Σ (E R)ᵀ ∘ (W Q)
    t["er_g"] = np.matmul(t["e_g"][None], t["r"])
    t["er_d"] = None if t["e_d"] is None else np.matmul(t["e_d"][None], t["r"])
    return t


def contract(factors: dict, wmats) -> dict[str, np.ndarray]:
    """``Σ_f tr(W_k(f) ∂S(f)/∂θ)`` for a stack of Hermitian ``W_k``, by every network parameter.

    Parameters
    ----------
    factors : dict
        From :func:`hopf_csd_factors`.
    wmats : ndarray, shape (K, F, C, C)
        Hermitian weight matrices (e.g. a likelihood's ``∂ℓ/∂S``).

    Returns
    -------
    out : dict
        ``"a"`` and ``"f"``: ``(K, N)``, by each region's damping (1/s) and frequency (Hz);
        ``"G"`` and ``"log_delay"``: ``(K,)`` (zero without delays).
    """
    q, r, spins = factors["q"], factors["r"], factors["spins"]
    wm = np.asarray(wmats)
    # T = W Q per stack entry, spin and frequency (K, 2, F, C, N); M = R T is never formed: its
    # diagonal is Σ_c R_jc T_cj, and tr(E M) = Σ_jc (E R)_jc T_cj with E R computed once per network
    t = np.matmul(wm[:, None], q[None]).swapaxes(-1, -2)  # (K, 2, F, N, C): T transposed
    diag = (r[None] * t).sum(axis=-1)  # (K, 2, F, N)
    out = {
        "a": 2 * diag.real.sum(axis=(1, 2)),  # E = -e_j e_jᵀ
        "f": 2 * (spins[None, :, :, :] * 2j * np.pi * diag).real.sum(axis=(1, 2)),  # E = ∓i2π e_j e_jᵀ
        "G": -2 * (factors["er_g"][None] * t).real.sum(axis=(1, 2, 3, 4)),
        "log_delay": np.zeros(len(wm)),
    }
    if factors["er_d"] is not None:
        out["log_delay"] = -2 * (factors["er_d"][None] * t).real.sum(axis=(1, 2, 3, 4))
    return out


def dense_derivatives(factors: dict, i: int) -> np.ndarray:
    """Every network parameter's ``∂S/∂θ`` at frequency ``i``: ``(2N + 2, C, C)``.

    Rows: each region's damping ``a_j`` (1/s), each region's frequency
    ``f_j`` (Hz), the coupling ``G`` and the log of the delays' common scale.
    """
    q, r, spins = factors["q"][:, i], factors["r"][:, i], factors["spins"][:, 0, 0]
    n = q.shape[-1]
    c = q.shape[-2]
    out = np.zeros((2 * n + 2, c, c), dtype=complex)
    for h in range(2):
        outer = q[h].T[:, :, None] * r[h][:, None, :]  # Q[:, j] R[j, :], (N, C, C)
        out[:n] += outer
        out[n : 2 * n] += spins[h] * 2j * np.pi * outer
        out[2 * n] -= q[h] @ factors["e_g"][i] @ r[h]
        if factors["e_d"] is not None:
            out[2 * n + 1] -= q[h] @ factors["e_d"][i] @ r[h]
    return out + out.conj().swapaxes(-1, -2)
