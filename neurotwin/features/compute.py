"""Computing a set of features on one recording."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd

from .. import __version__
from .._docs import fill_doc
from .._logging import verbose
from ..errors import ConfigError, DataError
from ..io.timeseries import RegionTimeseries
from .context import Context
from .featureset import FeatureSet
from .registry import get_spec
from .uncertainty import N_BLOCKS, attach_se

#: the default feature set (spectral + aperiodic)
DEFAULT_FEATURES = ("psd", "band_power", "iaf", "aperiodic", "spectral_edge", "theta_beta")


def _modality(data) -> str:
    if isinstance(data, RegionTimeseries):
        return "bold"
    if isinstance(data, pd.DataFrame):
        return "mri"
    if isinstance(data, (mne.io.BaseRaw, mne.BaseEpochs)):
        return "meg" if len(mne.pick_types(data.info, meg=True)) else "eeg"
    raise DataError(f"no features for {type(data).__name__} data.")


@fill_doc
@verbose
def compute_features(
    data,
    features=DEFAULT_FEATURES,
    *,
    params: dict | None = None,
    subject: str = "",
    session: str = "",
    psd_method: str = "welch",
    n_per_seg: float = 2.0,
    fmax: float = 45.0,
    n_blocks: int = N_BLOCKS,
    verbose=None,
) -> FeatureSet:
    """Compute features of one preprocessed recording.

    Parameters
    ----------
    data : mne.io.Raw | mne.Epochs | RegionTimeseries | pandas.DataFrame
        The recording (bad channels marked in ``info["bads"]`` are left out),
        BOLD region time series, or a regional-volumes table.
    features : sequence of str
        Feature names (see :data:`neurotwin.features.FEATURES`).
    params : dict | None
        ``{feature: {parameter: value}}`` overriding defaults.
    subject, session : str
        Labels written into the table.
    psd_method : "welch" | "multitaper"
        PSD estimator shared by the spectral features.
    n_per_seg : float
        Welch segment length in seconds.
    fmax : float
        Top of the PSD in Hz.
    n_blocks : int
        Contiguous blocks of the recording for the jackknife standard
        errors (the table's ``se``; :mod:`neurotwin.features.uncertainty`);
        0 skips them. The PSD's blocks are kept as the ``psd_blocks`` array.
    %(verbose)s

    Returns
    -------
    features : FeatureSet

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.features import compute_features
    >>> raw = make_resting_eeg(duration=60, alpha_freq=10.0, random_state=0).filter(1, 45, verbose="error")
    >>> fs = compute_features(raw, ["iaf"], subject="01")
    >>> round(fs.get("iaf", location="O1"), 1)
    10.0
    """
    params = params or {}
    unknown = [k for k in params if k not in features]
    if unknown:
        raise ConfigError(
            f"parameters given for feature(s) {unknown} that are not computed ({list(features)})."
        )
    specs = [get_spec(name) for name in features]
    checked = {s.name: s.check_params(params.get(s.name, {})) for s in specs}
    modality = _modality(data)
    wrong = [s.name for s in specs if modality not in s.modality]
    if wrong:
        raise ConfigError(f"feature(s) {wrong} do not apply to {modality} data.")
    if not isinstance(n_blocks, int | np.integer) or n_blocks < 0 or n_blocks in (1, 2):
        raise ConfigError(f"n_blocks must be 0 (no standard errors) or an integer >= 3, got {n_blocks!r}.")
    ctx = Context(data, psd_method=psd_method, n_per_seg=n_per_seg, fmax=fmax, n_blocks=int(n_blocks))
    by_spec, arrays = {}, {}
    for spec in specs:
        out = spec.func(ctx, **checked[spec.name])
        got_rows, got_arrays = out if isinstance(out, tuple) else (out, {})
        by_spec[spec.name] = list(got_rows)
        arrays.update(got_arrays)
    attach_se(ctx, specs, checked, by_spec, n_blocks)
    rows = [r for spec in specs for r in by_spec[spec.name]]
    prov = {
        "neurotwin": __version__,
        "mne": mne.__version__,
        "features": checked,
        "psd": ctx.cache["psd"].settings if "psd" in ctx.cache else None,
        "se": {"method": "delete-a-block jackknife", "n_blocks": int(n_blocks)},
    }
    return FeatureSet.from_rows(
        rows, subject=subject, session=session, modality=modality, arrays=arrays, provenance=prov
    )
