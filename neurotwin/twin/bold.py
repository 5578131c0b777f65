"""BOLD functional connectivity likelihood of the linearised Hopf network, with exact gradients.

The model (Deco et al. 2017; Ponce-Alvarez & Deco 2024): each region is a
Stuart-Landau oscillator below its bifurcation (``a_i < 0``) at its own
BOLD peak frequency ``f_i`` (measured from the data), coupled through
``G · W ∘ exp(δ)`` — the structural connectome scaled by a global
coupling, with per-connection log-modifiers ``δ`` (connectome-informed
effective connectivity, shrunk towards the connectome by their prior;
Gilson et al. 2016) — and driven by noise of per-region amplitude
``σ_i``. In complex form ``z = x + iy`` the network is
``dz = J z dt + dW`` with ``J = diag(a - G s + i2πf) + G W∘e^δ``; the
covariance ``C`` of ``z`` solves ``J C + C Jᴴ + 2 diag(σ²) = 0`` and BOLD
FC is the correlation of ``Re z`` (``Re C / 2``).

The likelihood of the observed correlation matrix ``R̂`` is Gaussian
(Wishart) with ``T_eff`` effective samples:
``-ℓ = T_eff/2 (log det R + tr(R⁻¹ R̂))``. Its gradient with respect to
every parameter costs one more (adjoint) Lyapunov solve:
``Jᴴ Λ + Λ J + ∂ℓ/∂Σ / 2 = 0`` gives ``∂ℓ/∂J = 2 Re (CΛ)ᵀ`` and
``∂ℓ/∂σ²_i = 2 Re Λ_ii``; so the ~N² parameters cost two N×N complex
Lyapunov solves per evaluation (about 20 ms for 94 regions).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_continuous_lyapunov
from scipy.signal import butter, sosfiltfilt, welch

from ..errors import DataError
from .inference import Prior

__all__ = ["BoldObjective", "bold_featureset", "bold_rows", "bold_summary"]


def bold_summary(timeseries: np.ndarray, tr: float, band: tuple[float, float] = (0.01, 0.1)) -> dict:
    """What the BOLD likelihood needs from region time series ``(n_times, n_regions)``.

    Band-pass (2nd-order Butterworth, zero phase), then: the correlation
    matrix, the effective number of samples (Bartlett: ``T / (1 + 2 Σ ρ_k²)``
    averaged over regions) and each region's peak frequency in the band.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.bold import bold_summary
    >>> x = np.random.default_rng(0).standard_normal((600, 3))
    >>> s = bold_summary(x, tr=0.72)
    >>> s["fc"].shape, bool(s["t_eff"] < 600)
    ((3, 3), True)
    """
    x = np.asarray(timeseries, float)
    if x.ndim != 2 or x.shape[0] < 50:
        raise DataError(f"BOLD time series must be (n_times >= 50, n_regions); got {x.shape}.")
    if not np.isfinite(x).all():
        raise DataError("BOLD time series contain NaN or infinite values.")
    if (x.std(axis=0) == 0).any():
        raise DataError("a region's BOLD time series is constant; drop it or check the parcellation.")
    fs = 1.0 / tr
    sos = butter(2, [band[0], min(band[1], 0.45 * fs)], btype="band", fs=fs, output="sos")
    y = sosfiltfilt(sos, x - x.mean(axis=0), axis=0)
    fc = np.corrcoef(y.T)
    t = len(y)
    z = (y - y.mean(axis=0)) / y.std(axis=0)
    lags = min(t // 4, 60)
    rho = np.array([np.mean(z[k:] * z[:-k], axis=0) for k in range(1, lags + 1)])  # (lags, N)
    t_eff = float(t / (1 + 2 * np.mean(np.sum(rho ** 2, axis=0))))
    f, p = welch(y.T, fs=fs, nperseg=min(t, 256))
    sel = (f >= band[0]) & (f <= band[1])
    peaks = f[sel][np.argmax(p[:, sel], axis=1)]
    return {"fc": fc, "t_eff": t_eff, "peak_freqs": peaks, "n_times": t, "tr": tr, "band": list(band)}


def bold_rows(summary: dict, labels: list[str]) -> tuple[list[dict], dict]:
    """Feature rows and arrays of a :func:`bold_summary`: what the BOLD twin reads.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.bold import bold_rows
    >>> rows, arrays = bold_rows({"fc": np.eye(2), "t_eff": 80.0, "peak_freqs": [0.04, 0.05]}, ["A", "B"])
    >>> [r["feature"] for r in rows], list(arrays)
    (['bold_peak_freq', 'bold_peak_freq', 'bold_t_eff'], ['fc_pearson'])
    """
    from ..features.featureset import FeatureArray

    labels = list(labels)
    rows = [{"feature": "bold_peak_freq", "location": lab, "value": float(f), "unit": "Hz"}
            for lab, f in zip(labels, summary["peak_freqs"])]
    rows.append({"feature": "bold_t_eff", "location": "global", "value": float(summary["t_eff"]),
                 "unit": "samples"})
    fc = FeatureArray(np.asarray(summary["fc"], float), ("region", "region2"),
                      {"region": labels, "region2": labels})
    return rows, {"fc_pearson": fc}


def bold_featureset(summary: dict, labels: list[str], *, subject: str = "", session: str = ""):
    """A FeatureSet of a :func:`bold_summary` (as the ``bold_dynamics`` feature makes).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.bold import bold_featureset
    >>> fs = bold_featureset({"fc": np.eye(2), "t_eff": 80.0, "peak_freqs": [0.04, 0.05]}, ["A", "B"])
    >>> fs.get("bold_t_eff")
    80.0
    """
    from ..features.featureset import FeatureSet

    rows, arrays = bold_rows(summary, labels)
    return FeatureSet.from_rows(rows, subject=subject, session=session, modality="bold", arrays=arrays)


class BoldObjective:
    """Negative log-likelihood of BOLD FC and its gradient.

    Parameters (``theta``): ``log(-a_i)`` (N), ``log G``, ``log σ_i`` (N),
    then, with ``effective=True``, the log-modifiers of the non-zero
    connections (MAP only).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.bold import BoldObjective
    >>> w = np.array([[0, 1.0, 0.5], [1.0, 0, 0.2], [0.5, 0.2, 0]])
    >>> obj = BoldObjective(w, np.eye(3), 300.0, np.full(3, 0.05), ["A", "B", "C"])
    >>> theta = np.concatenate([obj.prior.mean, np.zeros(obj.n_extra)])  # connection modifiers last
    >>> nll, grad = obj(theta)
    >>> grad.shape == (obj.n_params,)
    True
    """

    #: prior sd of the connection log-modifiers: a connection may be e^±2 (7x) stronger or weaker than the
    #: connectome says within 1 sd (chosen by held-out FC on 3 HCP subjects: 0.5, 1, 2, 4 gave mean r
    #: 0.60, 0.63, 0.70, 0.69; see benchmarks/validation/hcp_fc.py)
    edge_sd = 2.0

    def __init__(self, weights, fc, t_eff: float, peak_freqs, labels, *, effective: bool = True):
        w = np.asarray(weights, float)
        n = len(w)
        fc = np.asarray(fc, float)
        if fc.shape != (n, n):
            raise DataError(f"FC of shape {fc.shape} does not match the connectome's {n} regions.")
        if not np.isfinite(fc).all():
            raise DataError("the FC matrix has NaN values.")
        self.w, self.fc, self.t_eff, self.n = w, fc, float(t_eff), n
        self.omega = 2 * np.pi * np.asarray(peak_freqs, float)
        self.labels = list(labels)
        self.mask = (w > 0) if effective else np.zeros_like(w, bool)
        names = [f"a[{lb}]" for lb in self.labels] + ["G"] + [f"sigma[{lb}]" for lb in self.labels]
        transforms = ["logneg"] * n + ["log"] + ["log"] * n
        mean = np.concatenate([np.full(n, np.log(0.05)), [np.log(0.5)], np.zeros(n)])
        sd = np.concatenate([np.full(n, 1.5), [2.0], np.full(n, 1.0)])
        self.prior = Prior(names, transforms, mean, sd)
        self.n_extra = int(self.mask.sum())
        self.n_params = 2 * n + 1 + self.n_extra

    def _unpack(self, theta):
        n = self.n
        a = -np.exp(theta[:n])
        g = float(np.exp(theta[n]))
        s2 = np.exp(2 * theta[n + 1:2 * n + 1])
        we = self.w.copy()
        if self.n_extra:
            we[self.mask] = self.w[self.mask] * np.exp(theta[2 * n + 1:])
        return a, g, s2, we

    def _solve(self, theta):
        a, g, s2, we = self._unpack(theta)
        st = we.sum(axis=1)
        jac = np.diag(a - g * st + 1j * self.omega) + g * we
        cov = solve_continuous_lyapunov(jac, -np.diag(2 * s2).astype(complex))
        return a, g, s2, we, st, jac, cov

    def model_fc(self, theta) -> np.ndarray:
        """The model's FC at ``theta``."""
        sx = self._solve(np.asarray(theta, float))[-1].real / 2
        d = 1 / np.sqrt(np.diag(sx))
        return sx * np.outer(d, d)

    def __call__(self, theta):
        a, g, s2, we, st, jac, cov = self._solve(np.asarray(theta, float))
        sx = cov.real / 2
        diag = np.diag(sx)
        if (diag <= 0).any() or not np.isfinite(cov).all():
            return np.inf, np.zeros(self.n_params)
        d = 1 / np.sqrt(diag)
        r = sx * np.outer(d, d)
        sign, logdet = np.linalg.slogdet(r)
        if sign <= 0:
            return np.inf, np.zeros(self.n_params)
        r_inv = np.linalg.inv(r)
        t = self.t_eff
        nll = 0.5 * t * (logdet + np.sum(r_inv * self.fc))
        g_r = 0.5 * t * (r_inv - r_inv @ self.fc @ r_inv)  # d nll / dR
        g_s = (d[:, None] * g_r * d[None, :]) - np.diag(np.einsum("ij,j,ji->i", g_r, d, sx) * d ** 3)
        g_s = (g_s + g_s.T) / 2  # d nll / d Σx
        lam = solve_continuous_lyapunov(jac.conj().T, -(g_s / 2).astype(complex))
        d_a = 2 * (cov @ lam).T.real  # d nll / d J (real entries)
        grads = [np.diag(d_a) * a,
                 [np.sum(d_a * (we - np.diag(st))) * g],
                 2 * np.diag(lam).real * 2 * s2]
        if self.n_extra:
            d_we = g * (d_a - np.diag(d_a)[:, None])
            grads.append(d_we[self.mask] * we[self.mask])
        return float(nll), np.concatenate(grads)
