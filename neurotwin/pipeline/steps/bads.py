"""Bad-channel detection (PREP's robust criteria) and interpolation.

The criteria are those of the PREP pipeline (Bigdely-Shamlo et al. 2015)
as implemented by pyprep's ``NoisyChannels``: amplitude *deviation*
(robust z of each channel's IQR-based SD), *correlation* (98th percentile
of a channel's absolute correlation with the others in 1-s windows below
0.4 in more than 1 % of windows), *high-frequency noise* (robust z of the
>50 Hz / <50 Hz MAD ratio) and *dropout* (flat windows). They are written
here again, vectorised over windows, because pyprep loops over windows in
Python and re-filters the data: on 64 channels x 10 min at 500 Hz it takes
9 s (65x real time), which alone would break the pipeline's 200x target.
``tests/pipeline/test_bads.py`` checks that both flag the same channels
on synthetic and real recordings. RANSAC is not included (slow, random).
"""

from __future__ import annotations

from typing import Literal

import mne
import numpy as np
from pydantic import Field

from ..._logging import logger
from ...errors import DataError
from ._base import Step

_IQR_TO_SD = 0.7413
_MAD_TO_SD = 1.4826


def _iqr(x: np.ndarray, axis=None) -> np.ndarray:
    q75, q25 = np.percentile(x, [75, 25], axis=axis, method="hazen")  # MATLAB-style, as PREP
    return q75 - q25


def _mad(x: np.ndarray, axis=None) -> np.ndarray:
    med = np.median(x, axis=axis, keepdims=True)
    return np.median(np.abs(x - med), axis=axis)


def find_bad_channels(
    raw: mne.io.BaseRaw,
    *,
    deviation: float | None = 5.0,
    correlation: float | None = 0.4,
    hf_noise: float | None = 5.0,
    frac_bad: float = 0.01,
    window: float = 1.0,
    keep_correlated: float | None = None,
) -> dict[str, list[str]]:
    """Find noisy EEG channels with PREP's robust criteria.

    Parameters
    ----------
    raw : mne.io.Raw
        Preloaded recording. Channels already marked bad are left out of
        the statistics. Data should be high-passed (>= 0.5 Hz); if it is
        not, a 1 Hz high-passed copy is used.
    deviation : float | None
        Robust z threshold of channel amplitude (None: skip).
    correlation : float | None
        Windowed maximal correlation threshold (None: skip).
    hf_noise : float | None
        Robust z threshold of high-frequency noisiness (None: skip; skipped
        too when the data hold nothing above 50 Hz).
    frac_bad : float
        Fraction of bad windows that makes a channel bad by correlation or
        dropout.
    window : float
        Correlation window length in seconds.
    keep_correlated : float | None
        Not PREP (None, the default, is PREP): a channel bad *only* for a
        too-large amplitude is kept when its median windowed maximal
        correlation with the others is at least this. A large signal that
        the neighbours share is brain activity: eyes-closed occipital alpha
        makes O1/O2 "bad by deviation" in PREP (EEGBCI S001R02 does), and
        interpolating them would erase the alpha the features measure.

    Returns
    -------
    bads : dict
        Criterion -> channel names (``deviation``, ``correlation``,
        ``hf_noise``, ``dropout``, ``nan_flat``), ``all``, and
        ``kept_correlated`` (channels spared by ``keep_correlated``).

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import find_bad_channels
    >>> raw = make_resting_eeg(duration=60, bad_channels=["T7"], random_state=0)
    >>> find_bad_channels(raw.filter(1, None, verbose="error"))["all"]
    ['T7']
    """
    picks = mne.pick_types(raw.info, eeg=True, exclude="bads")
    names = [raw.ch_names[p] for p in picks]
    if len(picks) < 4:
        raise DataError(
            f"bad-channel detection needs at least 4 good EEG channels; this recording has {len(picks)}."
        )
    sfreq = raw.info["sfreq"]
    data = raw.get_data(picks=picks)
    if raw.info["highpass"] < 0.5:
        data = mne.filter.filter_data(data, sfreq, 1.0, None, verbose="error")
    out = {k: [] for k in ("nan_flat", "deviation", "hf_noise", "correlation", "dropout")}
    finite = np.isfinite(data).all(axis=1)
    amp = np.zeros(len(names))
    amp[finite] = _iqr(data[finite], axis=1) * _IQR_TO_SD
    # flat: robust spread ~0 (PREP uses the MAD; a zero IQR means the same, half the samples
    # equal, and is computed once for the deviation criterion anyway) or SD ~0
    usable = finite & (amp > 1e-15) & (np.std(data, axis=1) > 1e-15)
    out["nan_flat"] = [n for n, u in zip(names, usable) if not u]
    data, amp, unames = data[usable], amp[usable], [n for n, u in zip(names, usable) if u]

    high_amplitude: set[str] = set()
    if deviation is not None:
        z = (amp - np.median(amp)) / (_iqr(amp) * _IQR_TO_SD)
        out["deviation"] = [n for n, zz in zip(unames, z) if np.abs(zz) > deviation or np.isnan(zz)]
        high_amplitude = {n for n, zz in zip(unames, z) if zz > deviation}

    has_hf = sfreq > 100 and raw.info["lowpass"] > 50
    # PREP's low-pass: pass to 45 Hz, stop at 50 Hz
    low = (
        mne.filter.filter_data(data, sfreq, None, 45.0, h_trans_bandwidth=5.0, verbose="error")
        if has_hf
        else data
    )
    if hf_noise is not None:
        if has_hf:
            noisiness = _mad(data - low, axis=1) / _mad(low, axis=1)
            med = np.median(noisiness)
            z = (noisiness - med) / (np.median(np.abs(noisiness - med)) * _MAD_TO_SD)
            out["hf_noise"] = [n for n, zz in zip(unames, z) if zz > hf_noise or np.isnan(zz)]
        else:
            logger.info(
                "bad channels: no content above 50 Hz (low-passed or sfreq <= 100 Hz); "
                "high-frequency noise criterion skipped."
            )

    if correlation is not None:
        size = int(round(window * sfreq))
        n_win = len(range(1, low.shape[1] - size, size))  # PREP's window count
        if n_win < 1:
            raise DataError(f"bad channels: the recording is shorter than one {window} s window.")
        seg = low[:, : n_win * size].reshape(len(unames), n_win, size).transpose(1, 0, 2)
        seg = seg - seg.mean(axis=2, keepdims=True)
        scale = np.sqrt((seg**2).sum(axis=2))  # (win, ch)
        dropout = np.ptp(seg, axis=2) == 0  # a flat window
        with np.errstate(invalid="ignore", divide="ignore"):
            seg = seg / scale[:, :, None]
            corr = np.abs(seg @ seg.transpose(0, 2, 1))  # (win, ch, ch)
        idx = np.arange(len(unames))
        corr[:, idx, idx] = 0.0
        corr = np.nan_to_num(corr)
        max_corr = np.percentile(corr, 98, axis=1, method="hazen")  # MATLAB-style quantile
        max_corr[dropout] = 0.0
        frac = (max_corr < correlation).mean(axis=0)
        out["correlation"] = [n for n, f in zip(unames, frac) if f > frac_bad]
        out["dropout"] = [n for n, f in zip(unames, dropout.mean(axis=0)) if f > frac_bad]
        if keep_correlated is not None:
            median_corr = dict(zip(unames, np.median(max_corr, axis=0)))
            others = set().union(*(v for k, v in out.items() if k != "deviation"))
            out["kept_correlated"] = [
                n
                for n in out["deviation"]
                if n in high_amplitude and n not in others and median_corr[n] >= keep_correlated
            ]
    kept = set(out.pop("kept_correlated", []))
    found = set().union(*out.values()) - kept
    out["all"] = [n for n in names if n in found]
    out["kept_correlated"] = [n for n in names if n in kept]
    return out


class DetectBads(Step):
    """Mark noisy EEG channels bad (see :func:`find_bad_channels`).

    Unlike plain PREP, a channel whose only fault is a large amplitude that
    its neighbours share (``keep_correlated``, default 0.8) stays good.

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import DetectBads
    >>> raw = make_resting_eeg(duration=60, bad_channels=["O1"], random_state=0)
    >>> DetectBads().apply(raw).info["bads"]
    ['O1']
    """

    step: Literal["detect_bads"] = "detect_bads"
    deviation: float | None = Field(5.0, gt=0)
    correlation: float | None = Field(0.4, gt=0, lt=1)
    hf_noise: float | None = Field(5.0, gt=0)
    frac_bad: float = Field(0.01, ge=0, lt=1)
    window: float = Field(1.0, gt=0)
    keep_correlated: float | None = Field(0.8, gt=0, le=1)
    max_fraction: float = Field(0.3, gt=0, le=1)

    def apply(self, raw, log=None):
        found = find_bad_channels(
            raw,
            deviation=self.deviation,
            correlation=self.correlation,
            hf_noise=self.hf_noise,
            frac_bad=self.frac_bad,
            window=self.window,
            keep_correlated=self.keep_correlated,
        )
        n_eeg = len(mne.pick_types(raw.info, eeg=True, exclude=[]))
        bads = sorted(set(raw.info["bads"]) | set(found["all"]), key=raw.ch_names.index)
        if len(bads) > self.max_fraction * n_eeg:
            raise DataError(
                f"detect_bads: {len(bads)} of {n_eeg} EEG channels are bad ({', '.join(bads)}), more "
                f"than max_fraction={self.max_fraction}; check the recording (reference, cap, units)."
            )
        raw.info["bads"] = bads
        logger.info("bad channels: %s", ", ".join(bads) or "none")
        if log is not None:
            log.update(
                bads=bads,
                by_criterion={k: v for k, v in found.items() if k not in ("all", "kept_correlated") and v},
                kept_correlated=found["kept_correlated"],
            )
        return raw


class Interpolate(Step):
    """Replace bad EEG/MEG channels by spherical-spline/field interpolation (MNE).

    Needs channel positions (a montage); the readers set a template one
    when the file has none.

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import Interpolate
    >>> raw = make_resting_eeg(duration=10, random_state=0)
    >>> raw.info["bads"] = ["Cz"]
    >>> Interpolate().apply(raw).info["bads"]
    []
    """

    step: Literal["interpolate"] = "interpolate"
    mode: Literal["accurate", "fast"] = "accurate"
    reset_bads: bool = True

    def apply(self, raw, log=None):
        bads = [b for b in raw.info["bads"] if raw.get_channel_types([b])[0] in ("eeg", "mag", "grad")]
        if not bads:
            if log is not None:
                log["unchanged"] = True
            return raw
        picks = mne.pick_channels(raw.ch_names, bads)
        pos = np.array([raw.info["chs"][p]["loc"][:3] for p in picks])
        if not np.isfinite(pos).all() or np.allclose(pos, 0):
            raise DataError(f"interpolate: channels {bads} have no positions; set a montage first.")
        raw.interpolate_bads(reset_bads=self.reset_bads, mode=self.mode, verbose="error")
        if log is not None:
            log["interpolated"] = bads
        return raw
