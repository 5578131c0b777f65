"""Regional volumes kept with a twin's states: one table over sessions, with each volume's interval.

The twin does not fit volumes: each state keeps its session's regional
volumes (``mri_structural``'s ``volumes`` feature, with the SE of
:mod:`neurotwin.features.mri`) so that they are read next to the twin's
parameters over sessions. The interval is the normal one of that SE, a
lower bound of a rescan's (the segmentation's own variability is not in
it, and the SE understates the quantisation error too, see that module),
so two sessions' intervals that do not overlap are not, on their own, a
change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["volume_table"]

_COLUMNS = ["session", "at", "location", "value", "se", "low", "high", "unit"]


def volume_table(twin, level: float = 0.9) -> pd.DataFrame:
    """Every state's regional volumes: ``session, at, location, value, se, low, high, unit``.

    Parameters
    ----------
    twin : Twin
        A fitted twin.
    level : float
        Level of the normal interval ``value ± z se`` (NaN bounds where the SE was not measured).

    Returns
    -------
    table : pandas.DataFrame
        One row per state and region, in state order; empty when no state kept volumes.

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> from neurotwin.twin.volumes import volume_table
    >>> volume_table(Twin("01")).empty  # no session yet
    True
    """
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    rows = []
    for s in twin.states_:
        kept = s.features.get("volumes") or {}
        for loc, value, se in zip(kept.get("location", []), kept.get("value", []), kept.get("se", [])):
            se = np.nan if se is None else float(se)
            rows.append(
                {
                    "session": s.session,
                    "at": s.at,
                    "location": loc,
                    "value": float(value),
                    "se": se,
                    "low": value - z * se,
                    "high": value + z * se,
                    "unit": kept.get("unit", "mm^3"),
                }
            )
    return pd.DataFrame(rows, columns=_COLUMNS)
