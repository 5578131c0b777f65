"""Aperiodic (1/f) and periodic components of the spectrum (specparam), and the IAF.

specparam (formerly FOOOF; Donoghue et al. 2020) fits each channel's PSD
as an aperiodic curve ``offset - log10(knee + f^exponent)`` plus Gaussian
peaks. neurotwin only feeds it the PSD the other spectral features use,
leaves out channels whose spectrum cannot be logged (flat, NaN: specparam
would stop on them) and reports a failed fit as a failed fit. The
individual alpha frequency (IAF) is the centre of the strongest periodic
peak in the alpha search range that rises at least ``min_power`` (log10
units, default 0.3: twice the aperiodic power) above the 1/f curve, or
"no peak" when there is none (in 60 s of alpha-free simulated EEG, noise
makes specparam peaks of up to 0.25 there).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .context import Context
from .featureset import FeatureArray
from .registry import register_feature
from .spectral import _valid

_FIT_DEFAULTS = {
    "freq_range": (2.0, 40.0),
    "aperiodic_mode": "fixed",
    "peak_width_limits": (1.0, 8.0),
    "max_n_peaks": 6,
    "min_peak_height": 0.1,
}


def fit_aperiodic(
    ctx: Context,
    freq_range=(2.0, 40.0),
    aperiodic_mode="fixed",
    peak_width_limits=(1.0, 8.0),
    max_n_peaks=6,
    min_peak_height=0.1,
) -> dict:
    """Fit every good channel and the channel-mean spectrum (cached in ``ctx``).

    Returns
    -------
    fits : dict
        ``names`` (channels + ``"global"``), ``aperiodic`` (n, 2 or 3:
        offset, [knee,] exponent), ``peaks`` (list of (n_peaks, 3) arrays:
        centre, power, bandwidth), ``r_squared``, ``error``, ``status``.
    """
    from specparam import SpectralGroupModel

    key = (
        "aperiodic",
        tuple(freq_range),
        aperiodic_mode,
        tuple(peak_width_limits),
        max_n_peaks,
        min_peak_height,
    )
    if key in ctx.cache:
        return ctx.cache[key]
    if aperiodic_mode not in ("fixed", "knee"):
        raise ConfigError(f"aperiodic_mode must be 'fixed' or 'knee', got {aperiodic_mode!r}.")
    ctx.check_band("freq_range", *freq_range)
    spec = ctx.spectrum()
    status = list(_valid(spec.power))
    names = [*spec.ch_names, "global"]
    good = [k for k, s in enumerate(status) if s == "ok"]
    power = spec.power[good]
    rows = np.vstack([power, power.mean(axis=0, keepdims=True)]) if good else np.empty((0, spec.freqs.size))
    status.append("ok" if good else "not computable: no usable channel")
    index = [*good, len(names) - 1]
    n_ap = 3 if aperiodic_mode == "knee" else 2
    out = {
        "names": names,
        "aperiodic": np.full((len(names), n_ap), np.nan),
        "peaks": [np.empty((0, 3)) for _ in names],
        "r_squared": np.full(len(names), np.nan),
        "error": np.full(len(names), np.nan),
        "status": status,
        "mode": aperiodic_mode,
    }
    if good:
        model = SpectralGroupModel(
            peak_width_limits=list(peak_width_limits),
            max_n_peaks=max_n_peaks,
            min_peak_height=min_peak_height,
            aperiodic_mode=aperiodic_mode,
            verbose=False,
        )
        model.fit(spec.freqs, rows, list(freq_range))
        ap = model.get_params("aperiodic")
        peaks = model.get_params("peak")
        r2, err = model.get_metrics("gof"), model.get_metrics("error")
        for j, k in enumerate(index):
            if not np.isfinite(ap[j]).all():
                out["status"][k] = "fit failed"
                continue
            out["aperiodic"][k] = ap[j]
            out["peaks"][k] = peaks[peaks[:, -1] == j, :3] if peaks.size else np.empty((0, 3))
            out["r_squared"][k], out["error"][k] = r2[j], err[j]
    ctx.cache[key] = out
    return out


@register_feature(
    "aperiodic",
    modality=("eeg", "meg"),
    unit="1",
    params=dict(_FIT_DEFAULTS),
    doc="1/f exponent, offset (and knee) of each channel's spectrum, with fit quality.",
    se="spectrum",
)
def aperiodic(ctx: Context, **fit) -> tuple[list[dict], dict]:
    """Aperiodic exponent, offset (knee), r² and error per channel and for the mean spectrum."""
    res = fit_aperiodic(ctx, **fit)
    knee = res["mode"] == "knee"
    rows = []
    for k, name in enumerate(res["names"]):
        ap = res["aperiodic"][k]
        values = {
            "aperiodic_offset": (ap[0], "log10(power)"),
            "aperiodic_exponent": (ap[-1], "1"),
            "aperiodic_r2": (res["r_squared"][k], "1"),
            "aperiodic_error": (res["error"][k], "1"),
        }
        if knee:
            values["aperiodic_knee"] = (ap[1], "Hz^exponent")
        for feat, (value, unit) in values.items():
            rows.append(
                {"feature": feat, "location": name, "value": value, "unit": unit, "status": res["status"][k]}
            )
    peaks = [np.column_stack([np.full(len(p), k), p]) for k, p in enumerate(res["peaks"]) if len(p)]
    table = np.vstack(peaks) if peaks else np.empty((0, 4))
    arr = FeatureArray(table, ("peak", "param"), {"param": ["location_index", "freq", "power", "bandwidth"]})
    return rows, {"periodic_peaks": arr}


@register_feature(
    "iaf",
    modality=("eeg", "meg"),
    unit="Hz",
    params={"search": (7.0, 14.0), "min_power": 0.3, **_FIT_DEFAULTS},
    doc="Individual alpha frequency: the strongest specparam peak in the search range.",
    se="spectrum",
)
def iaf(ctx: Context, search=(7.0, 14.0), min_power=0.3, **fit) -> list[dict]:
    """Individual alpha peak frequency per channel and for the mean spectrum."""
    ctx.check_band("search", *search)
    res = fit_aperiodic(ctx, **fit)
    rows = []
    for k, name in enumerate(res["names"]):
        value, status = np.nan, res["status"][k]
        if status == "ok":
            p = res["peaks"][k]
            p = p[(p[:, 0] >= search[0]) & (p[:, 0] <= search[1]) & (p[:, 1] >= min_power)]
            if len(p):
                value = float(p[np.argmax(p[:, 1]), 0])
            else:
                status = "no peak"
        rows.append({"feature": "iaf", "location": name, "value": value, "unit": "Hz", "status": status})
    return rows
