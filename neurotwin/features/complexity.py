"""Complexity of each channel's signal (antropy), averaged over epochs.

Sample entropy, permutation entropy (normalised), spectral entropy
(Welch, normalised), Higuchi and Katz fractal dimensions and Lempel-Ziv
complexity of the signal binarised at its median, all from antropy
(Vallat), computed per epoch and averaged.
"""

from __future__ import annotations

import mne
import numpy as np

from ..errors import DataError
from .context import Context
from .registry import register_feature
from .uncertainty import block_mean_se

MEASURES = ("sample_entropy", "perm_entropy", "spectral_entropy", "higuchi_fd", "katz_fd", "lziv")


def _measure(name: str, x: np.ndarray, sfreq: float) -> float:
    import antropy as ant

    if name == "sample_entropy":
        return ant.sample_entropy(x, order=2, metric="chebyshev")
    if name == "perm_entropy":
        return ant.perm_entropy(x, order=3, delay=1, normalize=True)
    if name == "spectral_entropy":
        return ant.spectral_entropy(x, sf=sfreq, method="welch", normalize=True)
    if name == "higuchi_fd":
        return ant.higuchi_fd(x, kmax=10)
    if name == "katz_fd":
        return ant.katz_fd(x)
    binary = (x > np.median(x)).astype(int)
    return ant.lziv_complexity(binary, normalize=True)


@register_feature(
    "complexity",
    modality=("eeg", "meg"),
    unit="1",
    params={"measures": list(MEASURES)},
    choices={"measures": MEASURES},
    doc="Sample/permutation/spectral entropy, Higuchi/Katz FD, Lempel-Ziv (antropy).",
    se="own",
)
def complexity(ctx: Context, measures=MEASURES) -> list[dict]:
    """Entropy and fractal measures per channel, averaged over epochs."""
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise DataError(f"complexity: unknown measure(s) {unknown}; measures are {list(MEASURES)}.")
    data = ctx.data
    if not ctx.is_mne:
        raise DataError("complexity needs an mne Raw or Epochs.")
    data = data.copy().pick(["eeg", "mag", "grad", "seeg", "ecog"], exclude="bads")
    x = data.get_data()
    x = x[None] if isinstance(data, mne.io.BaseRaw) else x  # (n_epochs, n_ch, n_times)
    if x.shape[-1] < 100:
        raise DataError(f"complexity: segments of {x.shape[-1]} samples are too short (need >= 100).")
    rows = []
    for k, ch in enumerate(data.ch_names):
        seg = x[:, k]
        bad = (not np.isfinite(seg).all()) or np.ptp(seg) == 0
        for name in measures:
            per_epoch = (
                np.full(len(seg), np.nan)
                if bad
                else np.array([_measure(name, e, ctx.sfreq) for e in seg], float)
            )
            value = float(np.mean(per_epoch))
            se = float(block_mean_se(per_epoch)) if np.isfinite(value) else np.nan
            status = (
                "ok"
                if np.isfinite(value)
                else (
                    "not computable: flat or NaN channel"
                    if bad
                    else "not computable: undefined for this signal"
                )
            )
            rows.append(
                {"feature": name, "location": ch, "value": value, "se": se, "unit": "1", "status": status}
            )
    return rows
