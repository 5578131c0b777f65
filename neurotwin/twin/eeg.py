"""EEG/MEG spectral likelihood of the Hopf network seen through a lead field (Whittle).

Sensor model: ``P_c(f) = g² [L S(f) Lᵀ]_cc + b f^-χ`` — the network's
closed-form cross-spectrum (delays included, :func:`neurotwin.model.hopf_psd`)
projected by the average-referenced lead field ``L`` and scaled by a gain
``g``, plus an aperiodic background ``b f^-χ`` that no oscillator network
produces (Donoghue et al. 2020). Network parameters: damping ``a < 0``
(alpha peak width), intrinsic frequency ``f`` (the alpha peak), coupling
``G`` and conduction velocity ``v``; the noise amplitude is fixed to 1
(only its product with ``g`` is identifiable).

Whittle likelihood of a Welch PSD averaged over ``m`` segments:
``-ℓ = m Σ_f Σ_c [log P_c(f) + P̂_c(f) / P_c(f)]`` (Whittle 1953), with the
channel sum down-weighted by the lead field's effective number of
independent channels (participation ratio of ``L Lᵀ``), because
neighbouring electrodes see the same sources. The gradient is by forward
differences; the network spectrum is reused for the three sensor-level
parameters.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..model.spectra import hopf_psd
from .inference import Prior

__all__ = ["SpectrumObjective", "NAMES"]

#: parameters of the EEG twin, in order
NAMES = ("a", "f", "G", "velocity", "gain", "background", "exponent")
_TRANSFORMS = ("logneg", "identity", "log", "log", "log", "log", "identity")


class SpectrumObjective:
    """Negative log-likelihood of sensor PSDs and its (numerical) gradient.

    Parameters
    ----------
    weights : ndarray, shape (N, N)
        Connectome weights (normalised, e.g. max 1).
    lengths_mm : ndarray, shape (N, N)
        Tract lengths.
    gain : ndarray, shape (C, N)
        Lead field of the PSD's channels (average-referenced here).
    freqs, psd : ndarray
        ``(F,)`` and ``(C, F)``: the patient's PSD (any unit; the gain absorbs it).
    n_averages : float
        Welch segments averaged (the PSD's degrees of freedom / 2).
    fmin, fmax, resolution : float
        The fitted band and the bin width the PSD is averaged to.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.eeg import SpectrumObjective
    >>> w = np.array([[0, 1.0], [1.0, 0]])
    >>> lf = np.array([[1.0, 0.2], [0.3, 1.0], [0.5, 0.5]])
    >>> f = np.arange(1, 41, 0.5)
    >>> obj = SpectrumObjective(w, 60 * w, lf, f, np.ones((3, len(f))) / f, 50)
    >>> obj.prior.names[:2]
    ['a', 'f']
    """

    def __init__(self, weights, lengths_mm, gain, freqs, psd, n_averages: float, *, fmin: float = 2.0,
                 fmax: float = 40.0, resolution: float = 1.0):
        freqs = np.asarray(freqs, float)
        psd = np.asarray(psd, float)
        lf = np.asarray(gain, float)
        if psd.ndim != 2 or psd.shape[1] != len(freqs):
            raise DataError(f"PSD of shape {psd.shape} does not match {len(freqs)} frequencies.")
        if lf.shape != (psd.shape[0], len(weights)):
            raise DataError(f"lead field {lf.shape} does not match {psd.shape[0]} channels x "
                            f"{len(weights)} regions.")
        if not np.isfinite(psd).all() or (psd <= 0).any():
            raise DataError("the PSD has NaN, infinite or non-positive values; it cannot be fitted.")
        sel = (freqs >= fmin) & (freqs <= fmax)
        if sel.sum() < 5:
            raise DataError(f"the PSD has fewer than 5 frequencies in {fmin}-{fmax} Hz.")
        # average neighbouring bins to `resolution` Hz: fewer frequencies, more averages per bin
        step = max(1, int(round(resolution / np.median(np.diff(freqs[sel])))))
        n_bins = sel.sum() // step
        idx = np.flatnonzero(sel)[: n_bins * step]
        self.freqs = freqs[idx].reshape(n_bins, step).mean(axis=1)
        self.psd = psd[:, idx].reshape(len(psd), n_bins, step).mean(axis=2)
        self.m = float(n_averages) * step
        self.lf = lf - lf.mean(axis=0)  # average reference, as the pipeline's data
        eig = np.clip(np.linalg.eigvalsh(self.lf @ self.lf.T), 0, None)
        self.n_eff = float(eig.sum() ** 2 / (eig ** 2).sum())
        self.weight = np.full(len(self.freqs), self.m * self.n_eff / len(self.psd))
        self.w = np.asarray(weights, float)
        self.lengths = np.asarray(lengths_mm, float)
        self._cache: tuple | None = None
        # prior: gain and background centred on what makes the data's scale
        net = self._network(np.array([np.log(6.0), 10.0, 0.0, np.log(6.0)]))
        g0 = np.sqrt(np.median(self.psd) / np.median(net))
        b0 = np.median(self.psd * self.freqs)
        # damping |a| ~ 2π x 1 Hz half-width (alpha peaks are 1-3 Hz wide), within a factor e at 2 sd; an
        # undamped node would give a line narrower than the PSD's bins, where f has no gradient
        mean = np.array([np.log(6.0), 10.0, 0.0, np.log(6.0), np.log(g0), np.log(b0), 1.0])
        sd = np.array([0.5, 2.5, 2.0, 0.5, 3.0, 3.0, 1.0])
        self.prior = Prior(list(NAMES), list(_TRANSFORMS), mean, sd)
        # start the optimiser at the data's alpha peak: the likelihood has narrow optima in f
        alpha = (self.freqs >= 7.0) & (self.freqs <= 14.0)
        self.start = mean.copy()
        if alpha.any():
            self.start[1] = float(self.freqs[alpha][np.argmax((self.psd * self.freqs).mean(axis=0)[alpha])])
        self.n_params = len(NAMES)
        #: the model's domain on the unconstrained scale (the optimiser stays inside)
        self.bounds = [(np.log(0.5), np.log(50.0)), (0.5, 60.0), (None, np.log(1e3)),
                       (np.log(0.1), np.log(1e3)), (None, None), (None, None), (-1.0, 5.0)]

    def _hopf(self, theta) -> tuple[dict, np.ndarray]:
        """Hopf parameters and delays (ms) of the network part of ``theta`` (its first four values)."""
        v = np.exp(theta[3])
        return {"a": -np.exp(theta[0]), "f": theta[1], "G": np.exp(theta[2]), "sigma": 1.0}, self.lengths / v

    def _network(self, net_theta: np.ndarray) -> np.ndarray:
        key = tuple(np.round(net_theta, 12))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        params, delays = self._hopf(net_theta)
        a, f, g, v = -params["a"], params["f"], params["G"], np.exp(net_theta[3])
        if not (0.5 <= a <= 50 and 0.5 <= f <= 60 and g <= 1e3 and 0.1 <= v <= 1e3):
            return np.full((len(self.lf), len(self.freqs)), np.nan)  # outside the model's domain
        out = hopf_psd(self.w, self.freqs, params, delays_ms=delays, gain=self.lf).T  # (C, F)
        self._cache = (key, out)
        return out

    def model_psd(self, theta) -> np.ndarray:
        """The predicted sensor PSD ``(C, F)`` at ``theta`` (on :attr:`freqs`)."""
        theta = np.asarray(theta, float)
        net = self._network(theta[:4])
        return np.exp(2 * theta[4]) * net + np.exp(theta[5]) * self.freqs[None, :] ** (-theta[6])

    def reweight(self, theta) -> None:
        """Weigh each frequency by the channels' effective number at ``theta``.

        Channels are independent where the (diagonal) background dominates
        and redundant where the network's projected sources do. Two
        channels' Welch PSD estimates correlate by their squared coherence
        ``R_ij = |S_ij|² / (S_ii S_jj)``; the participation ratio
        ``C² / ||R(f)||²_F`` of that matrix counts the independent channels
        per frequency (the lead field's alone over-counts the redundancy).
        """
        from ..model.spectra import hopf_csd

        theta = np.asarray(theta, float)
        params, delays = self._hopf(theta)
        csd = np.exp(2 * theta[4]) * hopf_csd(self.w, self.freqs, params, delays_ms=delays, gain=self.lf)
        idx = np.arange(csd.shape[1])
        csd[:, idx, idx] += np.exp(theta[5]) * self.freqs[:, None] ** (-theta[6])
        power = csd[:, idx, idx].real
        r = np.abs(csd) ** 2 / (power[:, :, None] * power[:, None, :])
        n_eff = len(idx) ** 2 / np.sum(r ** 2, axis=(1, 2))
        self.weight = self.m * n_eff / len(idx)

    def predict(self, theta, freqs) -> np.ndarray:
        """The model's sensor PSD ``(C, len(freqs))`` at any frequencies (not cached)."""
        theta = np.asarray(theta, float)
        freqs = np.asarray(freqs, float)
        params, delays = self._hopf(theta)
        net = hopf_psd(self.w, freqs, params, delays_ms=delays, gain=self.lf).T
        return np.exp(2 * theta[4]) * net + np.exp(theta[5]) * freqs[None, :] ** (-theta[6])

    def _nll(self, theta) -> float:
        model = self.model_psd(theta)
        if not np.isfinite(model).all() or (model <= 0).any():
            return np.inf
        return float(np.sum(self.weight * (np.log(model) + self.psd / model)))

    def __call__(self, theta):
        theta = np.asarray(theta, float)
        base = self._nll(theta)
        grad = np.zeros(len(theta))
        if not np.isfinite(base):
            return np.inf, grad
        for i in range(len(theta)):
            step = 1e-6 * max(1.0, abs(theta[i]))
            t = theta.copy()
            t[i] += step
            up = self._nll(t)
            if not np.isfinite(up):  # at the edge of the model's domain: the backward difference
                t[i] -= 2 * step
                up, step = self._nll(t), -step
            grad[i] = (up - base) / step if np.isfinite(up) else 0.0
        self._network(theta[:4])  # leave the optimum's spectrum cached
        return base, grad
