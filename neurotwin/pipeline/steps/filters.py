"""Filtering steps: notch (mains, given or detected) and band-pass."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ..._logging import logger
from ...errors import ConfigError
from ...io.timeseries import RegionTimeseries
from ._base import Step


def detect_line_freq(raw, candidates=(50.0, 60.0)) -> float | None:
    """Return the mains frequency whose spectral peak stands out, or None.

    Compares the power at each candidate with the median power within
    +-4 Hz around it (Welch, 1-s windows, EEG/MEG channels); a candidate
    counts if it is at least 5x that median.

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps.filters import detect_line_freq
    >>> detect_line_freq(make_resting_eeg(duration=20, line_freq=60.0, random_state=0))
    60.0
    """
    sf = raw.info["sfreq"]
    psd = raw.compute_psd(
        method="welch", n_fft=int(sf), picks="data", exclude="bads", fmax=sf / 2, verbose="error"
    )
    freqs, power = psd.freqs, np.median(psd.get_data(), axis=0)
    best, best_ratio = None, 5.0
    for f in candidates:
        if f >= sf / 2 - 1:
            continue
        at = power[np.argmin(np.abs(freqs - f))]
        near = power[(np.abs(freqs - f) <= 4) & (np.abs(freqs - f) >= 1.5)]
        ratio = at / np.median(near) if near.size else 0.0
        if ratio > best_ratio:
            best, best_ratio = f, ratio
    return best


class Notch(Step):
    """Remove mains interference and its harmonics below Nyquist.

    ``line_freq="auto"`` uses ``raw.info["line_freq"]`` when the file sets it,
    else :func:`detect_line_freq`; nothing is filtered when no peak is found.

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import Notch
    >>> raw = Notch().apply(make_resting_eeg(duration=10, random_state=0))
    """

    step: Literal["notch"] = "notch"
    line_freq: float | Literal["auto"] = "auto"
    n_harmonics: int = Field(3, ge=1, le=10)

    def apply(self, raw, log=None):
        freq = self.line_freq
        if freq == "auto":
            freq = raw.info.get("line_freq") or detect_line_freq(raw)
            if freq is None:
                logger.info("notch: no mains peak found; nothing filtered.")
                if log is not None:
                    log.update(line_freq=None, unchanged=True)
                return raw
        nyq = raw.info["sfreq"] / 2
        freqs = [freq * k for k in range(1, self.n_harmonics + 1) if freq * k < nyq - 1]
        if not freqs:
            raise ConfigError(f"notch: line_freq={freq} Hz is above Nyquist ({nyq} Hz).")
        if log is not None:
            log.update(line_freq=float(freq), freqs=[float(f) for f in freqs])
        return raw.notch_filter(freqs, picks="data", verbose="error")


class Bandpass(Step):
    """Zero-phase band-pass of a recording or of region time series.

    Recordings (``mne.io.Raw``): MNE's FIR filter (Hamming window, automatic
    length). Region time series (BOLD): nilearn's zero-phase Butterworth
    filter (``signal.clean``), e.g. ``l_freq=0.01, h_freq=0.1``.

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import Bandpass
    >>> raw = Bandpass(l_freq=1.0, h_freq=40.0).apply(make_resting_eeg(duration=10, random_state=0))
    >>> raw.info["highpass"], raw.info["lowpass"]
    (1.0, 40.0)
    """

    step: Literal["bandpass"] = "bandpass"
    accepts: ClassVar[tuple[str, ...]] = ("raw", "timeseries")
    l_freq: float | None = Field(1.0, gt=0)
    h_freq: float | None = Field(45.0, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if self.l_freq is None and self.h_freq is None:
            raise ValueError("give l_freq, h_freq or both")
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ValueError(f"l_freq ({self.l_freq}) must be below h_freq ({self.h_freq})")
        return self

    def apply(self, raw, log=None):
        if isinstance(raw, RegionTimeseries):
            return self._apply_timeseries(raw)
        nyq = raw.info["sfreq"] / 2
        if self.h_freq is not None and self.h_freq >= nyq:
            raise ConfigError(
                f"bandpass: h_freq={self.h_freq} Hz is not below Nyquist ({nyq} Hz) of this "
                f"recording; lower h_freq or resample first."
            )
        if log is not None:
            log.update(l_freq=self.l_freq, h_freq=self.h_freq)
        return raw.filter(self.l_freq, self.h_freq, picks="data", verbose="error")

    def _apply_timeseries(self, ts):
        from nilearn.signal import clean

        nyq = 0.5 / ts.tr
        if self.h_freq is not None and self.h_freq >= nyq:
            raise ConfigError(
                f"bandpass: h_freq={self.h_freq} Hz is not below Nyquist ({nyq:g} Hz) of "
                f"this BOLD series (TR {ts.tr:g} s)."
            )
        out = clean(
            ts.data,
            detrend=False,
            standardize=None,
            filter="butterworth",
            low_pass=self.h_freq,
            high_pass=self.l_freq,
            t_r=ts.tr,
        )
        return ts.copy(data=out)
