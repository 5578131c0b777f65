"""Sensor cross-spectral density: every channel pair's cross-spectrum per frequency (the ``csd`` feature).

The CSD is estimated from the same Welch segments as the ``psd`` feature
(Hamming window of ``n_per_seg`` seconds, no overlap within epochs, half
overlap in a continuous Raw, density scaling, one-sided), so that its
diagonal **is** that PSD: ``Ŝ(f) = k Σ_s X_s(f) X_s(f)ᴴ / n`` with ``X_s``
the windowed segments' FFTs. Written here rather than taken from MNE
because MNE's ``csd_array_fourier`` tapers each whole epoch with a Hann
window and scales by the approximation 8/3, so its diagonal is not the
Welch PSD the other spectral features and the twin use (and SciPy's
``csd`` works one channel pair at a time). A Raw's bad spans
(``BAD_`` annotations) are left out before it is cut into segments.

Stored as arrays only: ``csd`` ``(freq, channel, channel2)`` (complex, in
the PSD's units) with its ``n_averages`` (segments averaged) in the
provenance, and ``csd_blocks`` ``(block, freq, channel, channel2)``: the
CSD of each contiguous block of segments (complex64), from which the
twin's CSD likelihood measures how much the spectrum varies within the
recording. 19 channels from 1 to 45 Hz at 0.5 Hz take about 0.5 MB, and
ten blocks (complex64) five times that; 64 channels take 11 times as much.
"""

from __future__ import annotations

import mne
import numpy as np

from ..errors import ConfigError
from .context import PSD_UNITS, Context
from .featureset import FeatureArray
from .registry import register_feature
from .uncertainty import block_indices

__all__ = ["segment_csd"]


def segment_csd(data, picks, n_per_seg: float, fmax: float):
    """Windowed FFTs of a recording's Welch segments: ``(freqs, X (S, C, F), scale)``.

    ``Ŝ(f) = scale(f) · mean_s X_s(f) X_s(f)ᴴ`` is SciPy's Welch density
    (Hamming window, no detrending) of the same segments, one-sided.

    Examples
    --------
    >>> import mne, numpy as np
    >>> from scipy.signal import welch
    >>> from neurotwin.features.csd import segment_csd
    >>> x = np.random.default_rng(0).standard_normal((2, 1000))
    >>> raw = mne.io.RawArray(x, mne.create_info(2, 100.0, "eeg"), verbose="error")
    >>> f, xs, scale = segment_csd(raw, [0, 1], 2.0, 45.0)
    >>> psd = scale * (np.abs(xs) ** 2).mean(axis=0)
    >>> ref = welch(x, 100.0, "hamming", 200, 100, detrend=False)[1][:, : len(f)]
    >>> bool(np.allclose(psd, ref))
    True
    """
    sf = data.info["sfreq"]
    if isinstance(data, mne.BaseEpochs):
        x = data.get_data(picks=picks)  # (E, C, T)
        overlap = 0
    else:
        x = data.get_data(picks=picks, reject_by_annotation="omit")[None]
        overlap = None
    n_times = x.shape[-1]
    seg = int(round(min(n_per_seg, n_times / sf) * sf))
    step = seg - (seg // 2 if overlap is None else overlap)
    starts = range(0, n_times - seg + 1, step)
    from scipy.signal import get_window  # (here: scipy.signal costs ~1 s to import)

    win = get_window("hamming", seg)
    freqs = np.fft.rfftfreq(seg, 1.0 / sf)
    keep = freqs <= fmax
    chunks = [np.fft.rfft(x[..., s : s + seg] * win, axis=-1)[..., keep] for s in starts]
    xs = np.stack(chunks, axis=1).reshape(-1, x.shape[1], int(keep.sum()))  # (epochs x segments, C, F)
    scale = np.full(int(keep.sum()), 2.0 / (sf * (win**2).sum()))
    scale[freqs[keep] == 0] /= 2
    if seg % 2 == 0:
        scale[freqs[keep] == sf / 2] /= 2
    return freqs[keep], xs, scale


def _cross(xs: np.ndarray, scale: np.ndarray, dtype) -> np.ndarray:
    """``scale · mean_s X_s Xᴴ_s`` as ``(F, C, C)``."""
    xf = np.moveaxis(xs, -1, 0)  # (F, S, C)
    return (np.einsum("fsc,fsd->fcd", xf, xf.conj()) * (scale / len(xs))[:, None, None]).astype(dtype)


@register_feature(
    "csd",
    modality=("eeg", "meg"),
    unit="data",
    params={"fmin": 1.0, "fmax": 45.0},
    doc="Cross-spectral density of every channel pair per frequency (array only; its diagonal is the PSD).",
)
def csd(ctx: Context, fmin: float = 1.0, fmax: float = 45.0) -> tuple[list[dict], dict]:
    """Sensor cross-spectral density per frequency (array only; with its blocks')."""
    if ctx.psd_method != "welch":
        raise ConfigError("the csd feature is estimated from Welch segments; use psd_method='welch'.")
    spec = ctx.spectrum()  # the channels and units of the PSD it extends
    if not 0 <= fmin < fmax:
        raise ConfigError(f"csd: fmin must be below fmax, got {fmin}-{fmax} Hz.")
    picks = [ctx.data.ch_names.index(c) for c in spec.ch_names]
    freqs, xs, scale = segment_csd(ctx.data, picks, ctx.n_per_seg, min(fmax, ctx.fmax, ctx.sfreq / 2))
    sel = freqs >= fmin
    freqs, xs, scale = freqs[sel], xs[..., sel], scale[sel]
    unit = np.sqrt([PSD_UNITS.get(t, (1.0, ""))[0] for t in spec.ch_types])  # V -> µV etc.
    xs = xs * unit[None, :, None]
    coords = {"freq": [float(f) for f in freqs], "channel": spec.ch_names, "channel2": spec.ch_names}
    dims = ("freq", "channel", "channel2")
    arrays = {"csd": FeatureArray(_cross(xs, scale, complex), dims, coords, unit=spec.units[0])}
    blocks = block_indices(len(xs), ctx.n_blocks) if ctx.n_blocks else None
    if blocks is not None:
        arrays["csd_blocks"] = FeatureArray(
            np.stack([_cross(xs[b], scale, np.complex64) for b in blocks]),
            ("block", "freq", "channel", "channel2"),
            {"block": [float(len(b)) for b in blocks], **coords},
            unit=spec.units[0],
        )
    return [], arrays
