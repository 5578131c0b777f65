"""Spectral features: PSD, absolute and relative band power, spectral edge, theta/beta.

The PSD is MNE's (Welch with a Hamming window, or DPSS multitaper) on the
good data channels, averaged over epochs; band power integrates it with
the trapezoid rule over the bins inside the band. Values that cannot be
computed (a flat or NaN channel, no power in the total range) are rows
with a status saying why, not NaN.
"""

from __future__ import annotations

import numpy as np

from .context import DEFAULT_BANDS, Context
from .featureset import FeatureArray
from .registry import register_feature
from .sensors import sensor_arrays
from .uncertainty import block_indices


def _valid(power: np.ndarray) -> np.ndarray:
    """Per channel: ``"ok"`` or why its spectrum is unusable."""
    status = np.full(power.shape[0], "ok", dtype=object)
    status[~np.isfinite(power).all(axis=1)] = "not computable: NaN in the data"
    status[np.isfinite(power).all(axis=1) & (power.max(axis=1) <= 0)] = "not computable: flat channel"
    return status


def _band_power(freqs, power, fmin, fmax) -> np.ndarray:
    mask = (freqs >= fmin) & (freqs <= fmax)
    return np.trapezoid(power[:, mask], freqs[mask], axis=-1)


def _bands(ctx: Context, bands: dict | None) -> dict[str, tuple[float, float]]:
    bands = {k: tuple(v) for k, v in (bands or DEFAULT_BANDS).items()}
    for name, (lo, hi) in bands.items():
        ctx.check_band(name, lo, hi)
    return bands


@register_feature(
    "psd",
    modality=("eeg", "meg"),
    unit="data",
    params={},
    doc="Power spectral density per channel (array only; with its blocks' PSDs).",
)
def psd(ctx: Context) -> tuple[list[dict], dict]:
    """Power spectral density per channel (array only)."""
    spec = ctx.spectrum()
    arr = FeatureArray(
        spec.power,
        ("channel", "freq"),
        {"channel": spec.ch_names, "freq": list(spec.freqs)},
        unit=spec.units[0],
    )
    arrays = {"psd": arr}
    blocks = block_indices(len(spec.segments), ctx.n_blocks) if spec.segments is not None else None
    if blocks is not None and ctx.n_blocks:
        # the PSD of each contiguous block (their mean, weighted by the block's units, is the PSD):
        # what the twin needs to measure how much the spectrum varies within the recording
        counts = [len(b) for b in blocks]
        scale = spec.settings["n_averages"] / len(spec.segments)  # Welch segments per unit
        arrays["psd_blocks"] = FeatureArray(
            np.stack([spec.segments[b].mean(axis=0) for b in blocks]),
            ("block", "channel", "freq"),
            {"block": [float(c * scale) for c in counts], "channel": spec.ch_names, "freq": list(spec.freqs)},
            unit=spec.units[0],
        )
    sensors = sensor_arrays(ctx.data.info, spec.ch_names) if ctx.is_mne else {}
    arrays.update(sensors)
    meg = set(sensors["meg_sensors"].coords["channel"]) if sensors else set()
    eeg = [c for c in spec.ch_names if c not in meg]
    pos = _positions(ctx, eeg) if eeg else None
    if pos is not None:
        arrays["channel_positions"] = FeatureArray(
            pos, ("channel", "xyz"), {"channel": eeg, "xyz": ["x", "y", "z"]}, unit="m"
        )
    return [], arrays


def _positions(ctx: Context, ch_names: list[str]) -> np.ndarray | None:
    """Head-frame positions (m) of these (non-MEG) channels, when the recording has them for every one."""
    if not ctx.is_mne:
        return None
    info = ctx.data.info
    pos = np.array([info["chs"][info.ch_names.index(c)]["loc"][:3] for c in ch_names], float)
    if not np.isfinite(pos).all() or (np.linalg.norm(pos, axis=1) < 1e-6).any():
        return None
    return pos


@register_feature(
    "band_power",
    modality=("eeg", "meg"),
    unit="data",
    params={"bands": None, "total": (1.0, 45.0), "relative": True},
    doc="Absolute band power (and relative to the total range) per channel.",
    se="spectrum",
)
def band_power(ctx: Context, bands=None, total=(1.0, 45.0), relative=True) -> list[dict]:
    """Absolute band power (and relative to the total range) per channel."""
    spec = ctx.spectrum()
    bands = _bands(ctx, bands)
    ctx.check_band("total", *total)
    status = _valid(spec.power)
    tot = _band_power(spec.freqs, spec.power, *total)
    rows = []
    for name, (lo, hi) in bands.items():
        absolute = _band_power(spec.freqs, spec.power, lo, hi)
        for k, ch in enumerate(spec.ch_names):
            rows.append(
                {
                    "feature": "band_power",
                    "location": ch,
                    "band": name,
                    "value": absolute[k],
                    "unit": spec.units[k].replace("/Hz", ""),
                    "status": status[k],
                }
            )
            if relative:
                ok = status[k] == "ok" and tot[k] > 0
                rows.append(
                    {
                        "feature": "band_power_rel",
                        "location": ch,
                        "band": name,
                        "value": absolute[k] / tot[k] if ok else np.nan,
                        "unit": "1",
                        "status": status[k]
                        if status[k] != "ok"
                        else ("ok" if ok else "not computable: no power"),
                    }
                )
    return rows


@register_feature(
    "spectral_edge",
    modality=("eeg", "meg"),
    unit="Hz",
    params={"edge": 0.95, "total": (1.0, 45.0)},
    doc="Frequency below which `edge` of the power in the total range lies.",
    se="spectrum",
)
def spectral_edge(ctx: Context, edge=0.95, total=(1.0, 45.0)) -> list[dict]:
    """Spectral edge frequency (95 % by default) per channel."""
    spec = ctx.spectrum()
    ctx.check_band("total", *total)
    mask = spec.band_mask(*total)
    f, p = spec.freqs[mask], spec.power[:, mask]
    # cumulative trapezoid, so that the edge agrees with the band-power integral
    steps = np.cumsum(np.diff(f) * (p[:, 1:] + p[:, :-1]) / 2, axis=1)
    cum = np.concatenate([np.zeros((p.shape[0], 1)), steps], axis=1)
    status = _valid(spec.power)
    rows = []
    for k, ch in enumerate(spec.ch_names):
        value = np.nan
        if status[k] == "ok" and cum[k, -1] > 0:
            value = float(np.interp(edge * cum[k, -1], cum[k], f))
        rows.append(
            {"feature": "spectral_edge", "location": ch, "value": value, "unit": "Hz", "status": status[k]}
        )
    return rows


@register_feature(
    "theta_beta",
    modality=("eeg",),
    unit="1",
    params={"theta": (4.0, 8.0), "beta": (13.0, 30.0)},
    doc="Ratio of absolute theta to beta power per channel.",
    se="spectrum",
)
def theta_beta(ctx: Context, theta=(4.0, 8.0), beta=(13.0, 30.0)) -> list[dict]:
    """Theta/beta power ratio per channel."""
    spec = ctx.spectrum()
    ctx.check_band("theta", *theta)
    ctx.check_band("beta", *beta)
    t = _band_power(spec.freqs, spec.power, *theta)
    b = _band_power(spec.freqs, spec.power, *beta)
    status = _valid(spec.power)
    return [
        {
            "feature": "theta_beta",
            "location": ch,
            "value": t[k] / b[k] if status[k] == "ok" and b[k] > 0 else np.nan,
            "unit": "1",
            "status": status[k],
        }
        for k, ch in enumerate(spec.ch_names)
    ]
