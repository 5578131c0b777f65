"""What feature functions share: the data, its PSD and its aperiodic fits.

Computing the PSD once and handing it to band power, IAF, spectral edge,
theta/beta and the aperiodic fit is what keeps the default feature set as
cheap as the PSD itself plus the fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mne
import numpy as np

from ..errors import ConfigError, DataError

#: channel type -> (scale from SI, unit of the PSD)
PSD_UNITS = {
    "eeg": (1e12, "uV^2/Hz"),
    "mag": (1e30, "fT^2/Hz"),
    "grad": (1e26, "(fT/cm)^2/Hz"),
    "seeg": (1e12, "uV^2/Hz"),
    "ecog": (1e12, "uV^2/Hz"),
}

DEFAULT_BANDS = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}


@dataclass
class Spectrum:
    """PSD of every good data channel (averaged over epochs), in display units."""

    freqs: np.ndarray
    power: np.ndarray  # (n_channels, n_freqs)
    ch_names: list[str]
    ch_types: list[str]
    units: list[str]  # PSD unit per channel
    method: str
    settings: dict
    #: the units averaged into ``power`` (epochs, or Welch segments of a Raw), ``(n, C, F)``, or None
    #: when there is a single estimate (multitaper of a Raw)
    segments: np.ndarray | None = None

    def band_mask(self, fmin: float, fmax: float) -> np.ndarray:
        """Frequency bins in ``[fmin, fmax]``."""
        return (self.freqs >= fmin) & (self.freqs <= fmax)


@dataclass
class Context:
    """The data of one recording and the results features share.

    Parameters
    ----------
    data : mne.io.Raw | mne.Epochs
        The preprocessed recording.
    psd_method : "welch" | "multitaper"
        How the PSD is estimated.
    n_per_seg : float
        Welch segment length in seconds (capped at the epoch length).
    fmax : float
        Highest frequency of the PSD (capped below Nyquist).
    n_blocks : int
        Contiguous blocks for the standard errors and the PSD's blocks
        (:mod:`neurotwin.features.uncertainty`; 0: none).
    """

    data: object
    psd_method: str = "welch"
    n_per_seg: float = 2.0
    fmax: float = 45.0
    n_blocks: int = 10
    cache: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.psd_method not in ("welch", "multitaper"):
            raise ConfigError(f"psd_method must be 'welch' or 'multitaper', got {self.psd_method!r}.")

    @property
    def is_mne(self) -> bool:
        """Whether the data are an MNE recording (Raw or Epochs)."""
        return isinstance(self.data, (mne.io.BaseRaw, mne.BaseEpochs))

    @property
    def sfreq(self) -> float:
        """Sampling rate."""
        return self.data.info["sfreq"] if self.is_mne else 1.0 / self.data.tr

    def check_band(self, name: str, fmin: float, fmax: float) -> None:
        """A ConfigError for bands that are empty or above what the PSD covers."""
        top = min(self.fmax, self.sfreq / 2)
        if not 0 <= fmin < fmax:
            raise ConfigError(f"band {name!r} ({fmin}-{fmax} Hz) is empty.")
        if fmax > top:
            raise ConfigError(
                f"band {name!r} ({fmin}-{fmax} Hz) reaches above {top:g} Hz, the top of the "
                f"spectrum (Nyquist {self.sfreq / 2:g} Hz, fmax {self.fmax:g} Hz)."
            )

    def spectrum(self) -> Spectrum:
        """The PSD (computed once)."""
        if not self.is_mne:
            raise DataError(f"spectral features need an mne Raw or Epochs, got {type(self.data).__name__}.")
        if "psd" not in self.cache:
            self.cache["psd"] = self._compute_psd()
        return self.cache["psd"]

    def _compute_psd(self) -> Spectrum:
        data, sf = self.data, self.sfreq
        picks = mne.pick_types(data.info, meg=True, eeg=True, seeg=True, ecog=True, exclude="bads")
        if len(picks) == 0:
            raise DataError("no good EEG/MEG channels to compute spectra from.")
        n_times = len(data.times)
        if isinstance(data, mne.BaseEpochs) and len(data) == 0:
            raise DataError(
                "no epochs are left (all rejected?); loosen the rejection or check the recording."
            )
        seg = int(round(min(self.n_per_seg, n_times / sf) * sf))
        if seg < int(sf):  # under 1 s: no frequency resolution for bands of a few Hz
            raise DataError(f"segments of {n_times / sf:.2f} s are too short for spectra (need >= 1 s).")
        fmax = min(self.fmax, sf / 2)
        settings = {"method": self.psd_method, "fmax": fmax}
        overlap = seg // 2 if isinstance(data, mne.io.BaseRaw) else 0
        if self.psd_method == "welch":
            kw = dict(n_fft=seg, n_per_seg=seg, n_overlap=overlap, window="hamming", average="mean")
        else:
            kw = dict(bandwidth=None, adaptive=False, low_bias=True)
        settings.update(kw)
        if isinstance(data, mne.BaseEpochs) and self.psd_method == "welch":
            # SciPy's Welch over the whole (epochs, channels, times) array at once: the same
            # numbers as Epochs.compute_psd, which calls it once per epoch and channel from
            # Python (4 s instead of 0.1 s for 10 min of 64 channels in 2-s epochs)
            from scipy.signal import welch

            blocks = []
            for start in range(0, len(picks), 8):  # 8 channels at a time bounds the memory
                freqs, p = welch(
                    data.get_data(picks=picks[start : start + 8]),
                    fs=sf,
                    window="hamming",
                    nperseg=seg,
                    noverlap=overlap,
                    nfft=seg,
                    detrend=False,
                    axis=-1,
                    average="mean",
                )
                blocks.append(p[..., freqs <= fmax])  # (epochs, channels, freqs)
            freqs, segments = freqs[freqs <= fmax], np.concatenate(blocks, axis=1)
            power = segments.mean(axis=0)  # average over epochs
            settings["n_averages"] = len(data) * max(1, (n_times - seg) // max(seg - overlap, 1) + 1)
        else:
            segments = None
            if isinstance(data, mne.io.BaseRaw):
                kw["reject_by_annotation"] = True
                if self.psd_method == "welch":
                    kw["average"] = None  # keep the segments (their mean is the "mean" average)
            try:
                spec = data.compute_psd(
                    method=self.psd_method, fmin=0.0, fmax=fmax, picks=picks, verbose="error", **kw
                )
                freqs, power = spec.freqs, spec.get_data()
            except ValueError:
                # a Raw with bad spans: MNE cannot keep the segments of several spans, so the PSD is
                # its plain mean and its features get no standard errors
                kw["average"] = "mean"
                spec = data.compute_psd(
                    method=self.psd_method, fmin=0.0, fmax=fmax, picks=picks, verbose="error", **kw
                )
                freqs, power = spec.freqs, spec.get_data()
            n_seg = max(1, (n_times - seg) // max(seg - overlap, 1) + 1)
            if isinstance(data, mne.io.BaseRaw) and power.ndim == 3:  # (channels, freqs, segments)
                segments = np.moveaxis(power, -1, 0)
                power = segments.mean(axis=0)
                n_seg = len(segments)
            elif power.ndim == 3:
                segments = power
                power = power.mean(axis=0)  # average over epochs
                n_seg *= len(data)
            # Welch segments averaged: the spectrum's degrees of freedom / 2 (for multitaper a lower
            # bound: one taper per epoch)
            settings["n_averages"] = n_seg
        types = [data.get_channel_types([data.ch_names[p]])[0] for p in picks]
        scale = np.array([PSD_UNITS.get(t, (1.0, ""))[0] for t in types])
        if segments is not None and len(segments) < 2:
            segments = None
        return Spectrum(
            freqs,
            power * scale[:, None],
            [data.ch_names[p] for p in picks],
            types,
            [PSD_UNITS.get(t, (1.0, "a.u."))[1] for t in types],
            self.psd_method,
            settings,
            None if segments is None else segments * scale[:, None],
        )
