"""Synthetic EEG patients with known twin parameters, shared by the validation scripts.

A patient is a synthetic connectome (:func:`neurotwin.datasets.make_connectome`)
seen by 19 standard 10-20 electrodes through the sphere lead field. A
session's PSD is drawn from the exact sampling distribution of a Welch
estimate of the model: at each frequency, ``m`` independent complex
Gaussian segments with the model's full sensor cross-spectrum (network
``g² L S(f) Lᵀ`` plus the aperiodic background on the diagonal), averaged —
so neighbouring channels share their noise as real EEG channels do.
"""

from __future__ import annotations

import mne
import numpy as np

from neurotwin.datasets import CHANNELS_1020, make_connectome
from neurotwin.features import FeatureArray, FeatureSet
from neurotwin.io import standard_montage
from neurotwin.model import hopf_csd, sphere_leadfield

CHANNELS = list(CHANNELS_1020)
FREQS = np.arange(1.0, 45.01, 0.5)
N_AVERAGES = 60  # 2-min recording in 2-s epochs
SFREQ = 250.0


class Patient:
    """One synthetic patient: connectome, lead field, and a session generator."""

    def __init__(self, n_regions: int = 20, seed: int = 0):
        self.connectome = make_connectome(n_regions, random_state=seed)
        info = mne.create_info(CHANNELS, 250.0, "eeg")
        info.set_montage(standard_montage(), verbose="error")
        lf = sphere_leadfield(info, self.connectome.centres, self.connectome.labels).gain
        self.lf = lf - lf.mean(axis=0)  # average reference
        self.rng = np.random.default_rng(10_000 + seed)

    def session(self, theta: dict, session: str = "01") -> FeatureSet:
        """A FeatureSet (PSD array, IAF rows) for natural parameters ``theta``."""
        con = self.connectome
        w = con.weights / con.weights.max()
        csd = hopf_csd(
            w,
            FREQS,
            {"a": theta["a"], "f": theta["f"], "G": theta["G"], "sigma": 1.0},
            delays_ms=con.tract_lengths / theta["velocity"],
            gain=self.lf,
        )
        csd = theta["gain"] ** 2 * csd
        # the twin's background: a knee form (the knee from the draw, else none)
        bg = theta["background"] / (theta.get("knee", 0.0) ** theta["exponent"] + FREQS ** theta["exponent"])
        n_ch = len(CHANNELS)
        psd = np.empty((n_ch, len(FREQS)))
        for k in range(len(FREQS)):
            cov = csd[k] + bg[k] * np.eye(n_ch)
            chol = np.linalg.cholesky((cov + cov.conj().T) / 2)
            shape = (n_ch, N_AVERAGES)
            x = chol @ (self.rng.standard_normal(shape) + 1j * self.rng.standard_normal(shape)) / np.sqrt(2)
            psd[:, k] = np.mean(np.abs(x) ** 2, axis=1)
        alpha = (FREQS >= 7) & (FREQS <= 14)
        iaf = FREQS[alpha][np.argmax(psd[:, alpha] * FREQS[alpha], axis=1)]
        rows = [
            {"feature": "iaf", "location": ch, "value": float(v), "unit": "Hz"}
            for ch, v in zip(CHANNELS, iaf)
        ]
        arr = FeatureArray(
            psd, ("channel", "freq"), {"channel": CHANNELS, "freq": list(FREQS)}, unit="uV^2/Hz"
        )
        return FeatureSet.from_rows(
            rows,
            subject="syn",
            session=session,
            modality="eeg",
            arrays={"psd": arr},
            provenance={"psd": {"n_averages": N_AVERAGES}},
        )


def draw_theta(rng: np.random.Generator) -> dict:
    """Parameters of a plausible patient (alpha 8-12 Hz, half-width 0.5-2 Hz, ...)."""
    return {
        "a": -2 * np.pi * rng.uniform(0.5, 2.0),
        "f": rng.uniform(8.0, 12.0),
        "G": rng.uniform(0.5, 4.0),
        "velocity": rng.uniform(4.0, 10.0),
        "gain": rng.uniform(0.5, 2.0),
        "background": rng.uniform(5.0, 40.0),
        "exponent": rng.uniform(1.0, 2.0),
        "knee": rng.uniform(2.0, 15.0),
    }


def sensor_csd(patient: Patient, theta: dict, freqs: np.ndarray) -> np.ndarray:
    """The model's sensor cross-spectrum ``(F, C, C)`` (µV²/Hz): network plus diagonal background."""
    con = patient.connectome
    w = con.weights / con.weights.max()
    csd = hopf_csd(
        w,
        freqs,
        {"a": theta["a"], "f": theta["f"], "G": theta["G"], "sigma": 1.0},
        delays_ms=con.tract_lengths / theta["velocity"],
        gain=patient.lf,
    )
    csd = theta["gain"] ** 2 * csd
    with np.errstate(divide="ignore"):
        bg = theta["background"] / (theta.get("knee", 0.0) ** theta["exponent"] + freqs ** theta["exponent"])
    bg[~np.isfinite(bg)] = 0.0
    idx = np.arange(csd.shape[1])
    csd[:, idx, idx] += bg[:, None]
    return csd


def recording(patient: Patient, theta: dict, duration: float = 120.0, *, seed: int = 0) -> mne.io.RawArray:
    """A stationary Gaussian EEG recording (V) whose cross-spectrum is the model's.

    Each rFFT bin ``k`` of an ``n``-sample recording gets a complex Gaussian
    vector with covariance ``S(f_k) · n · sfreq / 2`` (one-sided PSD), so that
    Welch's estimate of the result converges to ``S``.
    """
    n = int(round(duration * SFREQ))
    freqs = np.fft.rfftfreq(n, 1.0 / SFREQ)
    # the CSD on a 0.05-Hz grid, linearly interpolated to the recording's bins (it is smooth on that
    # scale: the narrowest alpha peaks are ~0.5 Hz wide), 6x cheaper than at every bin
    grid = np.arange(0.05, freqs[-1] + 0.05, 0.05)
    coarse = sensor_csd(patient, theta, grid)
    pos = np.clip(np.interp(freqs, grid, np.arange(len(grid))), 0, len(grid) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(grid) - 1)
    frac = (pos - lo)[:, None, None]
    csd = coarse[lo] * (1 - frac) + coarse[hi] * frac
    csd[0] = 0.0
    csd = (csd + np.conj(np.transpose(csd, (0, 2, 1)))) / 2
    # a tiny ridge keeps the Cholesky of the (nearly rank-deficient, average-referenced) CSD finite
    ridge = 1e-9 * np.trace(csd.real, axis1=1, axis2=2)[:, None, None] / csd.shape[1]
    chol = np.linalg.cholesky(csd + (ridge + 1e-30) * np.eye(csd.shape[1]))
    rng = np.random.default_rng(seed)
    shape = (len(freqs), csd.shape[1])
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    coef = np.einsum("fij,fj->fi", chol, z) / np.sqrt(2) * np.sqrt(n * SFREQ / 2)
    coef[0] = 0.0
    x = np.fft.irfft(coef, n=n, axis=0).T * 1e-6  # µV -> V
    info = mne.create_info(CHANNELS, SFREQ, "eeg")
    info.set_montage(standard_montage(), verbose="error")
    return mne.io.RawArray(x, info, verbose="error")


def bold_timeseries(weights, a, g: float, f, rng: np.random.Generator, *, t: int = 1200, tr: float = 0.72):
    """``(t, regions)`` samples of the linear Hopf network's ``Re z``, drawn exactly every ``tr`` s.

    ``dz = J z dt + dW`` with ``J = diag(a - G s + i2πf) + G W`` and unit complex noise: an
    Ornstein-Uhlenbeck process, discretised exactly.
    """
    from neurotwin.datasets import hopf_ou_timeseries

    return hopf_ou_timeseries(weights, a, g, f, n_times=t, tr=tr, random_state=rng)


def bold_session(
    connectome, a, g: float, f, rng: np.random.Generator, *, t: int = 1200, tr: float = 0.72, session="01"
) -> FeatureSet:
    """BOLD features of the linear Hopf network (``bold_dynamics``): ``t`` volumes at TR ``tr`` s.

    :func:`bold_timeseries` on the connectome's weights scaled to a maximum of 1 (as the twin scales
    them), then summarised by :func:`neurotwin.features.bold.bold_summary` as real BOLD is.
    """
    from neurotwin.features.bold import bold_featureset, bold_summary

    w = connectome.weights / connectome.weights.max()
    xs = bold_timeseries(w, a, g, f, rng, t=t, tr=tr)
    return bold_featureset(bold_summary(xs, tr), list(connectome.labels), subject="syn", session=session)
