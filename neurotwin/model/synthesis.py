"""Gaussian time series with a given cross-spectrum (spectral synthesis).

A stationary Gaussian process is fixed by its cross-spectral density: draw
each Fourier coefficient as a complex normal with the CSD at its frequency
as covariance, and transform back (Percival & Walden 1993, ch. 7; the
"spectral representation" method of Shinozuka & Deodatis 1991). This is how
a twin whose model is a linear (sub-critical) network plus an aperiodic
background turns into a recording: the draw has exactly the model's
spectra and coherences in expectation, delays included, without
integrating the network in time.

Why by hand: MNE's ``simulate_raw`` projects source time courses through a
forward model and adds noise from a covariance (flat across frequency); it
cannot draw sensors with a frequency-dependent cross-spectrum, and neither
SciPy nor mne-connectivity has such a generator.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_random_state
from ..errors import ConfigError, DataError

__all__ = ["gaussian_from_csd"]


def gaussian_from_csd(csd, freqs, n_times: int, sfreq: float, *, random_state=None) -> np.ndarray:
    """Draw ``(C, n_times)`` real signals whose one-sided cross-spectral density is ``csd``.

    Parameters
    ----------
    csd : ndarray, shape (F, C, C)
        One-sided CSD (Hermitian, positive semi-definite per frequency), in
        signal units² / Hz (e.g. V²/Hz: the variance of a channel is the
        integral of its PSD from 0 to Nyquist).
    freqs : ndarray, shape (F,)
        Its frequencies in Hz, increasing, covering 0 to ``sfreq / 2`` (it
        is interpolated linearly to the draw's Fourier frequencies; the
        zero-frequency (mean) component is left out).
    n_times : int
        Samples to draw.
    sfreq : float
        Sampling rate in Hz.
    random_state : int | numpy.random.Generator | None
        Seed.

    Returns
    -------
    data : ndarray, shape (C, n_times)

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model.synthesis import gaussian_from_csd
    >>> f = np.linspace(0, 50, 11)
    >>> csd = np.tile(np.eye(2) * 2e-3, (11, 1, 1))  # white, 2e-3 units²/Hz up to 50 Hz
    >>> x = gaussian_from_csd(csd, f, 100_000, 100.0, random_state=0)
    >>> x.shape, round(float(x.var(axis=1).mean()), 2)  # variance = 2e-3 x 50 Hz
    ((2, 100000), 0.1)
    """
    csd = np.asarray(csd)
    freqs = np.asarray(freqs, float)
    if csd.ndim != 3 or csd.shape[1] != csd.shape[2] or csd.shape[0] != len(freqs):
        raise DataError(f"csd must be (F, C, C) with F = {len(freqs)} frequencies, got {csd.shape}.")
    n_times, sfreq = int(n_times), float(sfreq)
    if n_times < 2 or not sfreq > 0:
        raise ConfigError(f"need n_times >= 2 and sfreq > 0, got {n_times} and {sfreq}.")
    if freqs[0] > 0 or freqs[-1] < sfreq / 2 * (1 - 1e-9) or (np.diff(freqs) <= 0).any():
        raise DataError(
            f"freqs must increase from 0 to Nyquist ({sfreq / 2:g} Hz), got {freqs[0]:g}-{freqs[-1]:g} Hz."
        )
    rng = check_random_state(random_state)
    n_ch = csd.shape[1]
    fk = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    # interpolate the CSD entrywise: a convex combination of PSD matrices stays PSD
    pos = np.clip(np.searchsorted(freqs, fk, side="right") - 1, 0, len(freqs) - 2)
    w = ((fk - freqs[pos]) / (freqs[pos + 1] - freqs[pos]))[:, None, None]
    s = (1 - w) * csd[pos] + w * csd[pos + 1]
    s = (s + np.conj(np.swapaxes(s, 1, 2))) / 2
    vals, vecs = np.linalg.eigh(s)
    factor = vecs * np.sqrt(np.clip(vals, 0, None))[:, None, :]  # factor @ factor^H = s
    # E|X_k|² = N fs P(f_k) / 2 for 0 < f_k < Nyquist (numpy's irfft divides by N)
    scale = np.full(len(fk), n_times * sfreq / 2)
    z = (rng.standard_normal((len(fk), n_ch)) + 1j * rng.standard_normal((len(fk), n_ch))) / np.sqrt(2)
    if n_times % 2 == 0:  # the Nyquist coefficient is real (its own conjugate): a real normal
        z[-1] = rng.standard_normal(n_ch)
    coef = np.einsum("kcd,kd->kc", factor, z) * np.sqrt(scale)[:, None]
    coef[0] = 0.0  # no mean
    return np.fft.irfft(coef, n=n_times, axis=0).T
