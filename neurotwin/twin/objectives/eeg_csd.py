"""EEG twin fitted to the sensor cross-spectra: the complex-Wishart Whittle likelihood of the whole CSD.

The model is the ``eeg`` objective's (:mod:`.eeg_psd`: the Hopf network
through the lead field, each channel's gain, aperiodic background with a
knee and beta rhythm), seen as a matrix, with one more term:
``S(f) = (g gᵀ) ∘ L [S_x(f) + β(f) I] Lᵀ + diag(b_c(f))``. ``β(f) = B_s / (κ^χ +
f^χ)`` is the cortex's own aperiodic activity, independent across regions
and seen through the same lead field (the global exponent and knee; its
level ``B_s`` is the parameter ``background_source``): real resting EEG is
coherent between neighbouring electrodes at every frequency (eegmat subject
11: median channel-pair coherence 0.08-0.11 outside the alpha band, its 90th
percentile 0.29-0.37), which a background independent per channel cannot
give, so without it the fit bent the network into a broadband, heavily damped
one (its alpha peak at 7 Hz against an IAF of 11-12 Hz in 4 of 18 real
recordings). A Welch CSD averaged over ``m`` independent segments is
complex-Wishart, ``m Ŝ ~ CW(m, S)``, whose negative log-likelihood is, up to
a constant, ``Σ_f m [log det S(f) + tr(S(f)⁻¹ Ŝ(f))]`` (Whittle 1953;
Goodman 1963). Its diagonal alone is the PSD objective's likelihood; with
the off-diagonal entries the channels' correlations (the phase and
coherence that volume conduction and the network give) are modelled
exactly, so no effective number of channels is needed.

**The data's subspace.** An average-referenced recording has rank ``C-1``,
and interpolated channels and removed ICA components lower it further, so
``Ŝ`` is singular. Both ``Ŝ`` and ``S`` are projected on the data's own
subspace ``U`` (the eigenvectors of the frequency-averaged, trace-normalised
``Re Ŝ`` above ``rank_tol`` of the largest), and the likelihood is that of
``Uᵀ Ŝ U``: what was measured, and nothing that was removed.

**Gradient and information, exact.** With ``A = U (Uᵀ S U)⁻¹ Uᵀ`` and
``W = m (A - A Ŝ A)``, the gradient is ``tr(W ∂S/∂θ)``: through the network
by :func:`neurotwin.model.csd_jacobian.contract`, through each channel's
gain as ``2 Re (N W)_cc`` (``N`` the network's share) and through the
background as ``Re W_cc``. The expected information is
``m Σ_f tr(A ∂_i S A ∂_j S)``, assembled in the natural per-channel and
per-region coordinates (each channel's and region's own value) and mapped
to the twin's centred offsets (:attr:`CsdObjective.raw_map`).

Used by ``Twin(modality="eeg", likelihood="csd")`` on features with a
``csd`` array (:mod:`neurotwin.features.csd`).
"""

from __future__ import annotations

import numpy as np

from ...errors import DataError
from ...model.csd_jacobian import contract, dense_derivatives, hopf_csd_factors
from ..inference import Prior
from . import eeg_params as ep
from .base import describe, feature_array, optional_array, register_objective
from .eeg_inputs import bin_psd
from .eeg_psd import SpectrumObjective

__all__ = ["CsdObjective"]


def _bin_csd(freqs, csd, **kw) -> np.ndarray:
    """:func:`~.eeg_inputs.bin_psd`'s bin averages of a ``(F, C, C)`` CSD."""
    n = csd.shape[-1]
    flat = csd.reshape(len(freqs), n * n).T
    re = bin_psd(freqs, flat.real, **kw)[1]
    im = bin_psd(freqs, flat.imag, **kw)[1]
    return (re + 1j * im).T.reshape(-1, n, n)


@register_objective
class CsdObjective(SpectrumObjective):
    """Negative log-likelihood of the sensor CSD (complex Wishart) and its exact gradient.

    Parameters
    ----------
    weights, lengths_mm, gain, n_averages, fmin, fmax, resolution, channels, regions, regional
        As :class:`~.eeg_psd.SpectrumObjective`.
    freqs : ndarray, shape (F,)
    csd : ndarray, shape (F, C, C)
        The patient's sensor CSD (Hermitian per frequency; its diagonal is the PSD).
    blocks : ndarray, shape (K, F, C, C) | None
        CSDs of the recording's contiguous blocks (the features' ``csd_blocks``), for the
        posterior's spread (:meth:`block_scores`); ``block_averages`` the segments each averages.
    rank_tol : float
        Eigenvalues of the data's normalised CSD below this share of the largest are the removed
        directions (reference, interpolation, ICA) left out of the likelihood.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.objectives.eeg_csd import CsdObjective
    >>> w = np.array([[0, 1.0], [1.0, 0]])
    >>> lf = np.array([[1.0, 0.2], [0.3, 1.0], [0.5, 0.5]])
    >>> f = np.arange(1, 41, 0.5)
    >>> ref = np.eye(3) - 1 / 3  # the average reference
    >>> csd = np.einsum("f,cd->fcd", 1 / f, ref @ (np.eye(3) + 0.2) @ ref)
    >>> obj = CsdObjective(w, 60 * w, lf, f, csd, 50)
    >>> obj.rank  # the reference removed one direction, which the likelihood leaves out
    2
    """

    likelihood = "csd"
    needs = ("psd", "csd")
    #: no second pass: the channels' correlations are in the likelihood itself
    reweight = None

    def __init__(
        self,
        weights,
        lengths_mm,
        gain,
        freqs,
        csd,
        n_averages: float,
        *,
        fmin: float = 2.0,
        fmax: float = 40.0,
        resolution: float = 1.0,
        channels=None,
        regions=None,
        regional: bool = True,
        blocks=None,
        block_averages=None,
        average_reference: bool = True,
        rank_tol: float = 1e-8,
    ):
        csd = np.asarray(csd, complex)
        freqs = np.asarray(freqs, float)
        if csd.ndim != 3 or csd.shape[0] != len(freqs) or csd.shape[1] != csd.shape[2]:
            raise DataError(f"a CSD of shape {csd.shape} is not (frequencies={len(freqs)}, C, C).")
        if not np.isfinite(csd).all():
            raise DataError("the CSD has NaN or infinite values; it cannot be fitted.")
        psd = np.einsum("fcc->cf", csd).real
        super().__init__(
            weights,
            lengths_mm,
            gain,
            freqs,
            psd,
            n_averages,
            fmin=fmin,
            fmax=fmax,
            resolution=resolution,
            channels=channels,
            regions=regions,
            regional=regional,
            average_reference=average_reference,
        )
        kw = {"fmin": fmin, "fmax": fmax, "resolution": resolution}
        self.csd = _bin_csd(freqs, csd, **kw)
        # the data's subspace: what the reference, interpolation and ICA left
        norm = self.csd.real / np.einsum("fcc->f", self.csd).real[:, None, None]
        val, vec = np.linalg.eigh(norm.mean(axis=0))
        self.basis = vec[:, val > rank_tol * val.max()]
        self.rank = self.basis.shape[1]
        self.csd_p = self._project(self.csd)
        self.weight = np.full(len(self.freqs), self.m)
        self.csd_blocks = None
        if blocks is not None:
            blocks = np.asarray(blocks, complex)
            share = np.asarray(block_averages, float)
            if blocks.shape[1:] != csd.shape or len(share) != len(blocks):
                raise DataError(f"CSD blocks of shape {blocks.shape} do not match the CSD {csd.shape}.")
            self.csd_blocks = self._project(np.stack([_bin_csd(freqs, b, **kw) for b in blocks]))
            self.block_share = share / share.sum()
        # the cortex's aperiodic activity through the lead field: one more level, after the others
        self.gram = self.lf @ self.lf.T
        prior = self.prior
        level = np.log(np.median(self.psd * self.freqs)) - 2 * prior.mean[4]
        level -= np.log(np.median(np.diag(self.gram)))
        labels, units = describe(["background_source"], self.parameters)
        self.prior = Prior(
            [*prior.names, "background_source"],
            [*prior.transforms, "log"],
            np.append(prior.mean, level),
            np.append(prior.sd, 3.0),
            labels=[*prior.labels, *labels],
            units=[*prior.units, *units],
        )
        self.source = self.n_params
        self.n_params += 1
        self.bounds = [*self.bounds, (None, None)]
        self.start = np.append(self.start, level - 1.0)  # (the channels' start already holds the background)
        self.raw_map = self._raw_map()
        self._factors = None
        self._network_fixed = False

    def refine_observation(self, theta, prior, maxiter: int = 300) -> np.ndarray:
        """The ``eeg`` objective's observation fit for a fixed network, without the gradient's network
        part (its parameters are not moved there: three quarters of a first fit's evaluations)."""
        self._network_fixed = True
        try:
            return super().refine_observation(theta, prior, maxiter)
        finally:
            self._network_fixed = False

    def _project(self, mats: np.ndarray) -> np.ndarray:
        return self.basis.T @ mats @ self.basis

    # ------------------------------------------------------------------ coordinates
    def _raw_index(self) -> dict[str, slice]:
        n, c = len(self.regions), len(self.channels)
        return {
            "a": slice(0, n),
            "f": slice(n, 2 * n),
            "G": slice(2 * n, 2 * n + 1),
            "delay": slice(2 * n + 1, 2 * n + 2),
            "gain": slice(2 * n + 2, 2 * n + 2 + c),
            "diag": slice(2 * n + 2 + c, 2 * n + 2 + 4 * c + 3),
            "source": slice(2 * n + 2 + 4 * c + 3, 2 * n + 2 + 4 * c + 6),
        }

    def _raw_map(self) -> np.ndarray:
        """``∂raw/∂θ``: each region's ``log|a_j|``, ``f_j``, then ``log G``, ``log`` delay scale, each
        channel's log gain, log background, exponent and log beta power, then the knee, beta frequency
        and log beta width, then the cortical background's log level, exponent and log knee, as linear
        functions of the twin's parameters (globals and centred offsets)."""
        n, c = len(self.regions), len(self.channels)
        ix = self._raw_index()
        j = np.zeros((ix["source"].stop, self.n_params))
        centre_n, centre_c = np.eye(n) - 1.0 / n, np.eye(c) - 1.0 / c

        def put(rows: slice, glob: int, offsets: slice | None, centre: np.ndarray) -> None:
            j[rows, glob] = 1.0
            if offsets is not None and offsets.stop > offsets.start:
                j[rows, offsets] = centre

        put(ix["a"], 0, self._reg["a_offset"], centre_n)
        put(ix["f"], 1, self._reg["f_offset"], centre_n)
        j[ix["G"], 2] = 1.0
        j[ix["delay"], 3] = -1.0  # delays are lengths / velocity
        put(ix["gain"], 4, self._ch["gain_offset"], centre_c)
        d0 = ix["diag"].start
        put(slice(d0, d0 + c), 5, self._ch["background_offset"], centre_c)
        put(slice(d0 + c, d0 + 2 * c), 6, self._ch["exponent_offset"], centre_c)
        put(slice(d0 + 2 * c, d0 + 3 * c), 10, self._ch["beta_offset"], centre_c)
        for k, glob in enumerate((7, 8, 9)):
            j[d0 + 3 * c + k, glob] = 1.0
        for row, col in zip(range(ix["source"].start, ix["source"].stop), (self.source, 6, 7)):
            j[row, col] = 1.0  # the cortex's level, and the global exponent and knee it shares
        return j

    # ------------------------------------------------------------------ model
    def _net(self, theta):
        """The network's CSD factors at ``theta`` (cached at the last network parameters), or None."""
        theta = np.asarray(theta, float)
        key = tuple(np.round(theta[self.network_index()], 12))
        if self._factors is not None and self._factors[0] == key:
            return self._factors[1]
        if not self._in_domain(theta):
            return None
        params, delays = self.hopf_params(theta)
        fac = hopf_csd_factors(self.w, self.freqs, params, delays_ms=delays, gain=self.lf)
        self._factors = (key, fac)
        return fac

    def _model(self, theta):
        """``(S, N, factors, Φ, (K, β), g)``: the model CSD, its share seen through the gains (network
        and cortical background), the network's factors, the channels' backgrounds' derivatives ``Φ``
        ``(F, C, 3C + 3)`` by their natural coordinates, the cortical background's gain-weighted
        ``K = (g gᵀ) ∘ L Lᵀ`` with ``β(f)`` and its derivatives ``(F, 3)``, and the channels' gains
        ``g``; None outside."""
        fac = self._net(theta)
        if fac is None:
            return None
        g2, obs, chi, kc, fc, ap, beta, dist2, gam2 = self._observation(theta, self.freqs)
        g = np.sqrt(g2[:, 0])
        src = self._source(theta, self.freqs)
        gram = self.gram * np.outer(g, g)
        net = fac["csd"] * np.outer(g, g) + src[0][:, None, None] * gram  # what the gains scale
        c = len(g)
        idx = np.arange(c)
        model = net.copy()
        model[:, idx, idx] += obs.T
        phi = np.zeros((len(self.freqs), c, 3 * c + 3))
        dchi, dknee = ep.knee_derivatives(ap, chi, theta[7], kc, fc, np.log(self.freqs)[None, :])
        d_centre, d_width = ep.lorentz_derivatives(beta, self.freqs[None, :], theta[8], dist2, gam2)
        phi[:, idx, idx] = ap.T
        phi[:, idx, c + idx] = dchi.T
        phi[:, idx, 2 * c + idx] = beta.T
        phi[:, :, 3 * c] = dknee.T
        phi[:, :, 3 * c + 1] = d_centre.T
        phi[:, :, 3 * c + 2] = d_width.T
        return model, net, fac, phi, (gram, np.stack(src, axis=1)), g

    def _source(self, theta, freqs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cortical background ``β(f)`` and its derivatives by its exponent and log knee."""
        chi, log_k = theta[6], theta[7]
        kc, fc = np.exp(chi * log_k), freqs**chi
        level = np.exp(theta[self.source]) / (kc + fc)
        return (level, *ep.knee_derivatives(level, chi, log_k, kc, fc, np.log(freqs)))

    def model_psd(self, theta) -> np.ndarray:
        """The predicted sensor PSD ``(C, F)`` at ``theta`` (the model CSD's diagonal)."""
        return np.einsum("fcc->cf", self.model_csd(theta)).real

    def spectrum(self, theta, freqs, part: str = "all") -> np.ndarray:
        """The model's PSD of the recorded data at any frequencies (in their subspace, as
        :meth:`model_csd`); ``part="network"``: the network's share alone."""
        if part == "network":
            return super().spectrum(theta, freqs, part)
        proj = self.basis @ self.basis.T
        return np.einsum("fcc->cf", proj @ self.sensor_csd(theta, freqs) @ proj).real

    def sensor_csd(self, theta, freqs) -> np.ndarray:
        """The model's sensor CSD ``(F, C, C)`` at any frequencies, the cortical background included."""
        freqs = np.asarray(freqs, float)
        g = np.sqrt(self._observation(theta, freqs)[0][:, 0])
        level = self._source(theta, freqs)[0]
        return super().sensor_csd(theta, freqs) + level[:, None, None] * (self.gram * np.outer(g, g))

    def model_csd(self, theta) -> np.ndarray:
        """The predicted CSD ``(F, C, C)`` of the recorded data at ``theta`` (on :attr:`freqs`).

        The model's CSD seen in the data's subspace (``Π S Π``, ``Π = U Uᵀ``): what the
        likelihood compares, e.g. each channel's own background after the average reference.
        """
        parts = self._model(theta)
        if parts is None:
            return np.full(self.csd.shape, np.nan, dtype=complex)
        return self.basis @ self._project(parts[0]) @ self.basis.T

    def _raw_gradient(self, theta, wmats, net, fac, phi, source, gains) -> np.ndarray:
        """``Σ_f tr(W_k ∂S/∂raw)`` ``(K, P_raw)`` for a stack of Hermitian ``W_k`` ``(K, F, C, C)``."""
        ix = self._raw_index()
        out = np.zeros((len(wmats), ix["source"].stop))
        if not self._network_fixed:  # (refine_observation leaves the network as it is)
            a, _, g, _ = self._unpack(theta)
            con = contract(fac, wmats * np.outer(gains, gains))
            out[:, ix["a"]] = con["a"] * a  # by log|a_j|
            out[:, ix["f"]] = con["f"]
            out[:, ix["G"]] = (con["G"] * g)[:, None]
            out[:, ix["delay"]] = con["log_delay"][:, None]
        out[:, ix["gain"]] = 2 * np.einsum("fcd,kfdc->kc", net, wmats).real
        out[:, ix["diag"]] = np.einsum("kfc,fcd->kd", np.einsum("kfcc->kfc", wmats).real, phi)
        gram, level = source
        out[:, ix["source"]] = np.einsum("kfcd,cd->kf", wmats.real, gram) @ level  # (K is real symmetric)
        return out

    def __call__(self, theta):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            parts = self._model(theta)
            if parts is None or not np.isfinite(parts[0]).all():
                return np.inf, np.zeros(self.n_params)
            model, net, fac, phi, source, gains = parts
            projected = self._project(model)
            try:
                chol = np.linalg.cholesky(projected)
            except np.linalg.LinAlgError:  # not positive definite: outside the model's domain
                return np.inf, np.zeros(self.n_params)
            logdet = 2 * np.log(np.einsum("fkk->fk", chol).real).sum(axis=1)
            inv = np.linalg.inv(projected)
            inv_data = inv @ self.csd_p
            fit = np.einsum("fkk->f", inv_data).real
            nll = float(np.sum(self.weight * (logdet + fit)))
            w_p = self.weight[:, None, None] * (inv - inv_data @ inv)
            wmat = self.basis @ w_p @ self.basis.T
            grad = self._raw_gradient(theta, wmat[None], net, fac, phi, source, gains)[0] @ self.raw_map
        if not (np.isfinite(nll) and np.isfinite(grad).all()):
            return np.inf, np.zeros(self.n_params)
        return nll, grad

    def block_scores(self, theta) -> np.ndarray | None:
        """Each block's centred score ``(K, P)``: ``u_b = Σ_f m s_b tr(A (Ŝ - Ŝ_b) A ∂S/∂θ)``, how far
        block ``b`` (share ``s_b`` of the segments) pulls the parameters from the whole recording's."""
        if self.csd_blocks is None:
            return None
        model, net, fac, phi, source, gains = self._model(theta)
        inv = np.linalg.inv(self._project(model))
        dev = inv[None] @ (self.csd_p[None] - self.csd_blocks) @ inv[None]
        dev *= self.weight[None, :, None, None] * self.block_share[:, None, None, None]
        wmats = self.basis @ dev @ self.basis.T
        return self._raw_gradient(theta, wmats, net, fac, phi, source, gains) @ self.raw_map

    def fisher(self, theta) -> np.ndarray:
        """Expected information ``Σ_f m tr(A ∂_i S A ∂_j S)`` at ``theta`` (the complex Wishart's).

        Each region's derivative is dense (``(2N + 2)`` matrices a frequency), each channel's gain
        and background enter through closed forms of ``A`` and ``N`` (``C × C`` products), so the
        cost grows as ``N C³`` rather than with the square of all parameters times ``C²``.
        """
        model, net, fac, phi, (gram, level), gains = self._model(theta)
        ix = self._raw_index()
        n = len(self.regions)
        a, _, g, _ = self._unpack(theta)
        gg = np.outer(gains, gains)
        chain = np.ones(2 * n + 2)
        chain[:n], chain[2 * n] = a, g  # by log|a_j| and log G
        # the network's parameters and the cortical background's: derivatives dense in channels
        dense = np.r_[0 : 2 * n + 2, np.arange(ix["source"].start, ix["source"].stop)]
        gs = np.arange(ix["gain"].start, ix["gain"].stop)
        ds = np.arange(ix["diag"].start, ix["diag"].stop)
        sums = {"dd": 0.0, "dg": 0.0, "dp": 0.0, "gg": 0.0, "gp": 0.0, "pp": 0.0}
        inv_p = np.linalg.inv(self._project(model))
        for i, m in enumerate(self.weight):
            am = self.basis @ inv_p[i] @ self.basis.T  # A
            nm = net[i]
            x = np.concatenate(
                [dense_derivatives(fac, i) * chain[:, None, None] * gg, level[i][:, None, None] * gram]
            )  # (Pd, C, C)
            y = am @ x @ am
            yf, xf = y.reshape(len(x), -1), x.reshape(len(x), -1)
            na, an = nm @ am, am @ nm
            nan = nm @ am @ nm
            sums["dd"] = sums["dd"] + m * (yf.real @ xf.real.T + yf.imag @ xf.imag.T)
            sums["dg"] = sums["dg"] + m * 2 * np.einsum("ck,ikc->ic", nm, y).real
            sums["dp"] = sums["dp"] + m * np.einsum("icc->ic", y).real @ phi[i]
            sums["gg"] = sums["gg"] + m * (na.T * na + am.T * nan + nan.T * am + an.T * an).real
            sums["gp"] = sums["gp"] + m * (am.T * na + an.T * am).real @ phi[i]
            sums["pp"] = sums["pp"] + m * phi[i].T @ (np.abs(am) ** 2) @ phi[i]
        info = np.zeros((ix["source"].stop,) * 2)
        for rows, cols, key in ((dense, dense, "dd"), (gs, gs, "gg"), (ds, ds, "pp")):
            info[np.ix_(rows, cols)] = sums[key]
        for rows, cols, key in ((dense, gs, "dg"), (dense, ds, "dp"), (gs, ds, "gp")):
            info[np.ix_(rows, cols)] = sums[key]
            info[np.ix_(cols, rows)] = sums[key].T
        return self.raw_map.T @ info @ self.raw_map

    # ------------------------------------------------------------------ what the twin reads
    def score(self, theta) -> dict:
        """Log-likelihood per value, r of log-PSD (the diagonal) and r of the channel pairs' coherence."""
        model = self.model_csd(theta)
        out = super().score(theta)
        sp = self._project(model)
        logdet = np.linalg.slogdet(sp)[1]
        fit = np.einsum("fkl,flk->f", np.linalg.inv(sp), self.csd_p).real
        out["loglik"] = -float(np.sum(logdet + fit)) / (len(self.freqs) * self.rank**2)
        out["r_coherence"] = coherence_r(model, self.csd)
        return out

    def diagnostics(self, theta, posterior, prior) -> dict:
        """The ``eeg`` objective's diagnostics, with the coherence r and the data's rank."""
        diag = super().diagnostics(theta, posterior, prior)
        diag["r_coherence"] = coherence_r(self.model_csd(theta), self.csd)
        diag["csd_rank"] = self.rank
        return diag

    @classmethod
    def _spectra(cls, features, every, rows, freqs):
        """The CSD of the modelled channels, its blocks and their segments (``build``'s data)."""
        arr = feature_array(features, "csd")
        if list(arr.coords["channel"]) != list(every):
            raise DataError(
                "the features' csd and psd have different channels; recompute them together "
                "(features = ['psd', 'csd', ...])."
            )
        cf = np.asarray(arr.coords["freq"], float)
        values = np.asarray(arr.values)[:, rows][:, :, rows]
        blocks = optional_array(features, "csd_blocks")
        if blocks is not None:
            return cf, values, np.asarray(blocks.values)[:, :, rows][:, :, :, rows], blocks.coords["block"]
        return cf, values, None, None


def coherence_r(model: np.ndarray, data: np.ndarray) -> float:
    """Pearson r of model and data magnitude-squared coherence over channel pairs and frequencies.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.objectives.eeg_csd import coherence_r
    >>> s = np.array([[[2.0, 0.5], [0.5, 1.0]], [[2.0, 1.0], [1.0, 1.0]]])
    >>> round(coherence_r(s, s), 6)
    1.0
    """

    def coh(s):
        p = np.einsum("fcc->fc", s).real
        return np.abs(s) ** 2 / (p[:, :, None] * p[:, None, :])

    iu = np.triu_indices(model.shape[-1], 1)
    a, b = coh(model)[:, iu[0], iu[1]].ravel(), coh(data)[:, iu[0], iu[1]].ravel()
    return float(np.corrcoef(a, b)[0, 1])
