"""What the BOLD twin reads from region time series: band-passed FC, effective samples, peak frequencies.

A feature like the others (the ``bold_dynamics`` feature of
:mod:`neurotwin.features.connectivity` computes it in a pipeline), kept
here so that features never import the twin.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .featureset import FeatureArray, FeatureSet

__all__ = ["bold_featureset", "bold_rows", "bold_summary"]


def bold_summary(timeseries: np.ndarray, tr: float, band: tuple[float, float] = (0.01, 0.1)) -> dict:
    """What the BOLD likelihood needs from region time series ``(n_times, n_regions)``.

    Band-pass (2nd-order Butterworth, zero phase), then: the correlation
    matrix, the effective number of samples (Bartlett: ``T / (1 + 2 Σ ρ_k²)``
    averaged over regions) and each region's peak frequency in the band.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.bold import bold_summary
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
    from scipy.signal import butter, sosfiltfilt, welch  # (here: scipy.signal costs ~1 s to import)

    fs = 1.0 / tr
    sos = butter(2, [band[0], min(band[1], 0.45 * fs)], btype="band", fs=fs, output="sos")
    y = sosfiltfilt(sos, x - x.mean(axis=0), axis=0)
    fc = np.corrcoef(y.T)
    t = len(y)
    z = (y - y.mean(axis=0)) / y.std(axis=0)
    lags = min(t // 4, 60)
    rho = np.array([np.mean(z[k:] * z[:-k], axis=0) for k in range(1, lags + 1)])  # (lags, N)
    t_eff = float(t / (1 + 2 * np.mean(np.sum(rho**2, axis=0))))
    f, p = welch(y.T, fs=fs, nperseg=min(t, 256))
    sel = (f >= band[0]) & (f <= band[1])
    peaks = f[sel][np.argmax(p[:, sel], axis=1)]
    return {"fc": fc, "t_eff": t_eff, "peak_freqs": peaks, "n_times": t, "tr": tr, "band": list(band)}


def bold_rows(summary: dict, labels: list[str]) -> tuple[list[dict], dict]:
    """Feature rows and arrays of a :func:`bold_summary`: what the BOLD twin reads.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.bold import bold_rows
    >>> rows, arrays = bold_rows({"fc": np.eye(2), "t_eff": 80.0, "peak_freqs": [0.04, 0.05]}, ["A", "B"])
    >>> [r["feature"] for r in rows], list(arrays)
    (['bold_peak_freq', 'bold_peak_freq', 'bold_t_eff'], ['fc_pearson'])
    """
    labels = list(labels)
    rows = [
        {"feature": "bold_peak_freq", "location": lab, "value": float(f), "unit": "Hz"}
        for lab, f in zip(labels, summary["peak_freqs"])
    ]
    rows.append(
        {"feature": "bold_t_eff", "location": "global", "value": float(summary["t_eff"]), "unit": "samples"}
    )
    fc = FeatureArray(
        np.asarray(summary["fc"], float), ("region", "region2"), {"region": labels, "region2": labels}
    )
    return rows, {"fc_pearson": fc}


def bold_featureset(summary: dict, labels: list[str], *, subject: str = "", session: str = ""):
    """A FeatureSet of a :func:`bold_summary` (as the ``bold_dynamics`` feature makes).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.bold import bold_featureset
    >>> fs = bold_featureset({"fc": np.eye(2), "t_eff": 80.0, "peak_freqs": [0.04, 0.05]}, ["A", "B"])
    >>> fs.get("bold_t_eff")
    80.0
    """
    rows, arrays = bold_rows(summary, labels)
    return FeatureSet.from_rows(rows, subject=subject, session=session, modality="bold", arrays=arrays)
