"""Functional connectivity: sensor/region spectral measures, envelope correlation, BOLD FC.

Spectral measures (coherence, imaginary coherence, PLV, PLI, debiased
squared wPLI) come from mne-connectivity's ``spectral_connectivity_epochs``
(multitaper, averaged within each band); orthogonalised amplitude-envelope
correlation from its ``envelope_correlation`` on the band-passed analytic
signal (Hipp et al. 2012). BOLD functional connectivity: correlation and
partial correlation from scikit-learn's Ledoit-Wolf shrunk covariance of
the z-scored region signals. Matrices go into the FeatureSet's arrays;
the table gets the mean over pairs (``location="global"``) of each.
"""

from __future__ import annotations

import mne
import numpy as np

from ..errors import DataError
from ..io.timeseries import RegionTimeseries
from .bold import bold_rows, bold_summary
from .context import DEFAULT_BANDS, Context
from .featureset import FeatureArray
from .registry import register_feature

SPECTRAL_METHODS = ("coh", "imcoh", "plv", "pli", "wpli2_debiased")


def _good_epochs(ctx: Context) -> mne.BaseEpochs:
    data = ctx.data
    if not isinstance(data, mne.BaseEpochs):
        raise DataError("connectivity needs epochs (add an 'epochs' step before 'features').")
    if len(data) < 2:
        raise DataError(f"connectivity needs at least 2 epochs; there are {len(data)}.")
    return data.copy().pick(["eeg", "mag", "grad", "seeg", "ecog"], exclude="bads")


def _matrix_rows(name: str, band: str, mat: np.ndarray, names: list[str]):
    iu = np.triu_indices(len(names), 1)
    value = float(np.mean(mat[iu])) if np.isfinite(mat[iu]).all() else np.nan
    row = {
        "feature": name,
        "location": "global",
        "band": band,
        "value": value,
        "unit": "1",
        "status": "ok" if np.isfinite(value) else "not computable: NaN in the data",
    }
    arr = FeatureArray(mat, ("channel", "channel2"), {"channel": names, "channel2": names})
    return row, arr


@register_feature(
    "connectivity",
    modality=("eeg", "meg"),
    unit="1",
    params={"methods": list(SPECTRAL_METHODS), "bands": None},
    choices={"methods": SPECTRAL_METHODS},
    doc="Band-averaged coherence, imaginary coherence, PLV, PLI and debiased wPLI.",
    se="epochs",
)
def connectivity(ctx: Context, methods=SPECTRAL_METHODS, bands=None) -> tuple[list[dict], dict]:
    """Spectral connectivity matrices per band (mne-connectivity, multitaper)."""
    from mne_connectivity import spectral_connectivity_epochs

    bands = {k: tuple(v) for k, v in (bands or DEFAULT_BANDS).items()}
    for name, (lo, hi) in bands.items():
        ctx.check_band(name, lo, hi)
    epochs = _good_epochs(ctx)
    names = epochs.ch_names
    fmin = tuple(lo for lo, _ in bands.values())
    fmax = tuple(hi for _, hi in bands.values())
    methods = list(methods)
    result = spectral_connectivity_epochs(
        epochs, method=methods, mode="multitaper", fmin=fmin, fmax=fmax, faverage=True, verbose="error"
    )
    result = result if isinstance(result, list) else [result]
    rows, arrays = [], {}
    for method, con in zip(methods, result):
        dense = con.get_data(output="dense")  # (n, n, n_bands), lower triangle filled
        for b, band in enumerate(bands):
            mat = dense[:, :, b]
            mat = mat + mat.T
            if method == "imcoh":
                mat = np.abs(mat)
            row, arr = _matrix_rows(method, band, mat, names)
            rows.append(row)
            arrays[f"{method}_{band}"] = arr
    return rows, arrays


@register_feature(
    "envelope_correlation",
    modality=("eeg", "meg"),
    unit="1",
    params={"bands": None},
    doc="Orthogonalised amplitude-envelope correlation per band.",
    se="epochs",
)
def envelope_correlation(ctx: Context, bands=None) -> tuple[list[dict], dict]:
    """Orthogonalised AEC per band (mne-connectivity), averaged over epochs."""
    from mne_connectivity import envelope_correlation as aec

    bands = {k: tuple(v) for k, v in (bands or DEFAULT_BANDS).items()}
    for name, (lo, hi) in bands.items():
        ctx.check_band(name, lo, hi)
    epochs = _good_epochs(ctx)
    rows, arrays = [], {}
    for band, (lo, hi) in bands.items():
        analytic = epochs.copy().filter(lo, hi, verbose="error")
        analytic.apply_hilbert(envelope=False, verbose="error")
        con = aec(analytic.get_data(), names=epochs.ch_names, orthogonalize="pairwise", verbose="error")
        mat = np.asarray(con.combine().get_data(output="dense"))[:, :, 0]
        np.fill_diagonal(mat, 0.0)
        row, arr = _matrix_rows("aec_orth", band, mat, epochs.ch_names)
        rows.append(row)
        arrays[f"aec_orth_{band}"] = arr
    return rows, arrays


@register_feature(
    "bold_fc",
    modality=("bold",),
    unit="1",
    params={"kinds": ["correlation", "partial correlation"]},
    choices={"kinds": ("correlation", "partial correlation")},
    doc="BOLD functional connectivity: Ledoit-Wolf correlation and partial correlation.",
)
def bold_fc(ctx: Context, kinds=("correlation", "partial correlation")) -> tuple[list[dict], dict]:
    """Region-by-region FC of BOLD time series (Ledoit-Wolf shrunk covariance, scikit-learn)."""
    from sklearn.covariance import LedoitWolf

    ts = ctx.data
    if not isinstance(ts, RegionTimeseries):
        raise DataError("bold_fc needs region time series (the rest_fmri pipeline's output).")
    if ts.n_times <= ts.n_regions // 4 or ts.n_times < 10:
        raise DataError(f"bold_fc: {ts.n_times} time points are too few for {ts.n_regions} regions.")
    sd = ts.data.std(axis=0, ddof=1)
    if (sd == 0).any():
        flat = [lab for lab, s in zip(ts.labels, sd) if s == 0]
        raise DataError(f"bold_fc: region(s) {flat[:5]} have constant signals; drop them (min_voxels).")
    z = (ts.data - ts.data.mean(axis=0)) / sd
    cov = LedoitWolf().fit(z).covariance_
    rows, arrays = [], {}
    for kind in kinds:
        if kind == "correlation":
            d = np.sqrt(np.diag(cov))
            mat = cov / np.outer(d, d)
        elif kind == "partial correlation":
            prec = np.linalg.inv(cov)
            d = np.sqrt(np.diag(prec))
            mat = -prec / np.outer(d, d)
        else:
            raise DataError(f"bold_fc: kinds are 'correlation' and 'partial correlation', not {kind!r}.")
        np.fill_diagonal(mat, 0.0)
        name = kind.replace(" ", "_")
        row, _ = _matrix_rows(f"fc_{name}", "", mat, ts.labels)
        rows.append(row)
        arrays[f"fc_{name}"] = FeatureArray(
            mat, ("region", "region2"), {"region": ts.labels, "region2": ts.labels}
        )
    return rows, arrays


@register_feature(
    "bold_dynamics",
    modality=("bold",),
    unit="1",
    params={"band": [0.01, 0.1]},
    doc="What the BOLD twin fits: band-passed Pearson FC, each region's peak frequency and the "
    "effective number of samples.",
)
def bold_dynamics(ctx: Context, band=(0.01, 0.1)) -> tuple[list[dict], dict]:
    """Band-passed Pearson FC, per-region BOLD peak frequency and effective samples (Bartlett)."""
    ts = ctx.data
    if not isinstance(ts, RegionTimeseries):
        raise DataError("bold_dynamics needs region time series (the rest_fmri pipeline's output).")
    return bold_rows(bold_summary(ts.data, ts.tr, tuple(band)), ts.labels)
