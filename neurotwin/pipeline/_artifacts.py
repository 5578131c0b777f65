"""Saving, loading and fingerprinting the data that flows between steps.

One writer and one reader per kind of data, each using the field's own
format: FIF (MNE) for recordings and epochs, NIfTI (nibabel) for images,
TSV for tables and region time series. Recordings are written in single
precision (float32: a 24-bit mantissa, as fine as a 24-bit amplifier's
steps and finer than a 16-bit one's) unless they were read as double
precision (``raw.orig_format``), and epochs in single precision; this
halves the cache and the derivatives. The runner always goes on with what
it read back, so a run resumed from the cache computes exactly what a fresh
run computes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mne
import nibabel as nib
import numpy as np
import pandas as pd

from ..errors import DataError
from ..features import FeatureSet, read_featureset
from ..io.timeseries import RegionTimeseries, read_timeseries

#: kind -> file name ending (the part after the stem)
ENDINGS = {
    "raw": "_raw.fif",
    "epochs": "_epo.fif",
    "image": ".nii.gz",
    "table": ".tsv",
    "timeseries": "_timeseries.tsv",
    "features": "_features.tsv",
}


def kind_of(data) -> str:
    """The kind name of a data object."""
    if isinstance(data, mne.io.BaseRaw):
        return "raw"
    if isinstance(data, mne.BaseEpochs):
        return "epochs"
    if isinstance(data, nib.spatialimages.SpatialImage):
        return "image"
    if isinstance(data, RegionTimeseries):
        return "timeseries"
    if isinstance(data, pd.DataFrame):
        return "table"
    if isinstance(data, FeatureSet):
        return "features"
    raise DataError(f"a step returned {type(data).__name__}, which no writer handles.")


def save_data(data, path: Path) -> Path:
    """Write ``data`` to ``path`` (whose ending matches its kind); return the path."""
    kind = kind_of(data)
    if kind in ("raw", "epochs"):
        fmt = "double" if kind == "raw" and getattr(data, "orig_format", None) == "double" else "single"
        data.save(path, fmt=fmt, overwrite=True, split_naming="bids", verbose="error")
    elif kind == "image":
        nib.save(data, path)
    elif kind in ("timeseries", "features"):
        data.save(path)
    else:
        data.to_csv(path, sep="\t", index=False, float_format="%.17g", na_rep="n/a")
    return path


def load_data(path: Path, kind: str):
    """Read what :func:`save_data` wrote."""
    if kind == "raw":
        return mne.io.read_raw_fif(path, preload=True, verbose="error")
    if kind == "epochs":
        return mne.read_epochs(path, preload=True, verbose="error")
    if kind == "image":
        img = nib.load(path)
        return img.__class__(np.asanyarray(img.dataobj), img.affine, img.header)  # in memory
    if kind == "timeseries":
        return read_timeseries(path)
    if kind == "features":
        return read_featureset(path)
    return pd.read_csv(path, sep="\t", na_values="n/a")


def digest(data) -> str:
    """SHA-256 of the content of ``data`` (values, names, rates; no file metadata).

    FIF files carry a write time in their file id, so two identical results
    are not byte-identical files; this fingerprint is what runs are
    compared by.
    """
    h = hashlib.sha256()
    kind = kind_of(data)
    if kind in ("raw", "epochs"):
        for start in range(0, len(data.ch_names), 8):  # 8 channels at a time: no full copy
            block = data.get_data(picks=np.arange(start, min(start + 8, len(data.ch_names))))
            h.update(np.ascontiguousarray(block).data)
        meta = {"ch_names": data.ch_names, "sfreq": data.info["sfreq"], "bads": data.info["bads"]}
        if kind == "raw":
            a = data.annotations
            meta["annotations"] = [
                list(map(float, a.onset)),
                list(map(float, a.duration)),
                list(a.description),
            ]
        else:
            meta["events"] = data.events[:, 0].tolist()
        h.update(json.dumps(meta, sort_keys=True).encode())
    elif kind == "image":
        h.update(np.ascontiguousarray(np.asanyarray(data.dataobj)).tobytes())
        h.update(np.asarray(data.affine, float).tobytes())
    elif kind == "timeseries":
        h.update(np.ascontiguousarray(data.data).tobytes())
        h.update(json.dumps({"labels": data.labels, "tr": data.tr}).encode())
        if data.confounds is not None:
            h.update(data.confounds.to_csv(float_format="%.17g").encode())
    elif kind == "features":
        h.update(data.table.to_csv(sep="\t", index=False, float_format="%.17g").encode())
        for name in sorted(data.arrays):
            h.update(name.encode())
            h.update(np.ascontiguousarray(data.arrays[name].values).data)
    else:
        h.update(data.to_csv(sep="\t", index=False, float_format="%.17g").encode())
    return h.hexdigest()
