"""MRI features: regional volumes and intensity statistics from the ``regional_volumes`` step's table.

**A volume's measurement SE.** A label volume assigns each voxel wholly
to one region, so a voxel on a region's boundary (a face-neighbour of
another label, the step's ``n_boundary``) is counted in full or not at
all, whatever share of it the region truly fills. Taking that error as
uniform on [-1/2, 1/2] voxel (variance 1/12 voxel²), independent between
boundary voxels, gives ``se = voxel volume x sqrt(n_boundary / 12)``: the
partial-volume quantisation error of this image. It is a lower bound of
what a rescan would measure: the segmentation's own variability (the
same brain segmented from another scan) is not in it. And it understates
even the quantisation error, whose boundary voxels' errors are not
independent along a surface: over grids shifted within a voxel, the
volume's SD was 1.1-1.4 times this SE on spheres and 0.8-3.3 (median 2.0)
times it on the 10 largest regions of the MNE sample person's aseg
(``benchmarks/validation/volume_se.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .context import Context
from .registry import register_feature


@register_feature(
    "volumes",
    modality=("mri",),
    unit="mm^3",
    params={"relative": True},
    doc="Regional volumes (mm³) and, optionally, as a fraction of the labelled total.",
)
def volumes(ctx: Context, relative=True) -> list[dict]:
    """Volume and SE of every labelled region (its fraction of all labelled voxels; intensity statistics).

    Examples
    --------
    >>> import pandas as pd
    >>> from neurotwin.features.context import Context
    >>> from neurotwin.features.mri import volumes
    >>> table = pd.DataFrame({"name": ["Left-Hippocampus"], "n_voxels": [4000], "n_boundary": [1200],
    ...                       "volume_mm3": [4000.0]})
    >>> row = volumes(Context(data=table), relative=False)[0]
    >>> row["value"], round(row["se"], 1)
    (4000.0, 10.0)
    """
    table = ctx.data
    if not isinstance(table, pd.DataFrame) or not {"name", "volume_mm3"} <= set(table.columns):
        raise DataError("volumes need the table of the 'regional_volumes' step.")
    total = float(table["volume_mm3"].sum())
    if {"n_boundary", "n_voxels"} <= set(table.columns):  # (tables of older runs have no boundary count)
        voxel = table["volume_mm3"] / table["n_voxels"]
        se = (voxel * np.sqrt(table["n_boundary"] / 12.0)).to_numpy(float)
    else:
        se = np.full(len(table), np.nan)
    rows = [
        {"feature": "volume", "location": n, "value": float(v), "se": float(e), "unit": "mm^3"}
        for n, v, e in zip(table["name"], table["volume_mm3"], se)
    ]
    for col in ("intensity_mean", "intensity_sd", "intensity_median"):
        if col in table.columns:  # from regional_volumes(intensity = "T1w")
            rows += [
                {"feature": col, "location": n, "value": float(v), "unit": "a.u."}
                for n, v in zip(table["name"], table[col])
            ]
    if relative and total > 0:
        rows += [  # (the total's own error, summed over every region, is left out)
            {
                "feature": "volume_fraction",
                "location": n,
                "value": float(v) / total,
                "se": e / total,
                "unit": "1",
            }
            for n, v, e in zip(table["name"], table["volume_mm3"], se)
        ]
    return rows


def volume_summary(features) -> dict | None:
    """A FeatureSet's regional volumes as a twin state keeps them; None when it has none.

    Returns
    -------
    volumes : dict | None
        ``{"location": [...], "value": [...], "se": [...], "unit": "mm^3"}``
        (an SE that was not measured is None), JSON-able for the store.

    Examples
    --------
    >>> from neurotwin.features import FeatureSet
    >>> from neurotwin.features.mri import volume_summary
    >>> fs = FeatureSet.from_rows([{"feature": "volume", "location": "Left-Hippocampus",
    ...                             "value": 4000.0, "se": 10.0, "unit": "mm^3"}])
    >>> volume_summary(fs)["value"]
    [4000.0]
    """
    t = features.table
    t = t[(t["feature"] == "volume") & (t["status"] == "ok")]
    if t.empty:
        return None
    return {
        "location": [str(x) for x in t["location"]],
        "value": [float(x) for x in t["value"]],
        "se": [float(x) if np.isfinite(x) else None for x in t["se"]],
        "unit": "mm^3",
    }
