"""MRI features: regional volumes and intensity statistics from the ``regional_volumes`` step's table."""

from __future__ import annotations

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
    """Volume of every labelled region (its fraction of all labelled voxels; intensity statistics)."""
    table = ctx.data
    if not isinstance(table, pd.DataFrame) or not {"name", "volume_mm3"} <= set(table.columns):
        raise DataError("volumes need the table of the 'regional_volumes' step.")
    total = float(table["volume_mm3"].sum())
    rows = [
        {"feature": "volume", "location": n, "value": float(v), "unit": "mm^3"}
        for n, v in zip(table["name"], table["volume_mm3"])
    ]
    for col in ("intensity_mean", "intensity_sd", "intensity_median"):
        if col in table.columns:  # from regional_volumes(intensity = "T1w")
            rows += [
                {"feature": col, "location": n, "value": float(v), "unit": "a.u."}
                for n, v in zip(table["name"], table[col])
            ]
    if relative and total > 0:
        rows += [
            {"feature": "volume_fraction", "location": n, "value": float(v) / total, "unit": "1"}
            for n, v in zip(table["name"], table["volume_mm3"])
        ]
    return rows
