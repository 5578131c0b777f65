"""Region time series (parcellated BOLD): a small labelled container.

No field library has a container for region x time data with a TR and
confound signals that reads and writes BIDS ``_timeseries.tsv`` files
(nilearn returns bare arrays), so this one is ours: a NumPy array, the
region labels, the repetition time and an optional confounds table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, MissingFileError

__all__ = ["RegionTimeseries", "read_timeseries"]


@dataclass(frozen=True)
class RegionTimeseries:
    """Region time series sampled every ``tr`` seconds.

    Attributes
    ----------
    data : numpy.ndarray, shape (n_times, n_regions)
        The signals.
    labels : list of str
        Region names, one a column.
    tr : float
        Repetition time in seconds.
    confounds : pandas.DataFrame | None
        Nuisance signals (one column each, ``n_times`` rows).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.io import RegionTimeseries
    >>> ts = RegionTimeseries(np.zeros((10, 2)), ["A", "B"], tr=2.0)
    >>> ts.n_times, ts.n_regions, ts.duration
    (10, 2, 20.0)
    """

    data: np.ndarray
    labels: list[str]
    tr: float
    confounds: pd.DataFrame | None = field(default=None)

    def __post_init__(self):
        data = np.asarray(self.data, dtype=float)
        if data.ndim != 2 or data.shape[1] != len(self.labels):
            raise DataError(f"time series of shape {data.shape} do not match {len(self.labels)} labels.")
        if not self.tr > 0:
            raise DataError(f"repetition time must be positive, got {self.tr}.")
        if self.confounds is not None and len(self.confounds) != data.shape[0]:
            raise DataError(f"{len(self.confounds)} confound rows for {data.shape[0]} time points.")
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "labels", [str(x) for x in self.labels])

    @property
    def n_times(self) -> int:
        """Number of time points."""
        return self.data.shape[0]

    @property
    def n_regions(self) -> int:
        """Number of regions."""
        return self.data.shape[1]

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_times * self.tr

    def copy(self, **changes) -> RegionTimeseries:
        """A copy with some attributes changed."""
        return replace(self, **changes)

    def save(self, fname: str | os.PathLike) -> Path:
        """Write ``<name>_timeseries.tsv`` plus its JSON sidecar (and confounds).

        Floats are written at full precision (reading gives the same array).
        """
        path = Path(fname)
        pd.DataFrame(self.data, columns=self.labels).to_csv(path, sep="\t", index=False, float_format="%.17g")
        side = {"RepetitionTime": self.tr, "SamplingFrequency": 1.0 / self.tr}
        if self.confounds is not None:
            side["Confounds"] = self.confounds.to_dict(orient="list")
        path.with_name(path.name.rsplit(".", 1)[0] + ".json").write_text(
            json.dumps(side, indent=1, sort_keys=True)
        )
        return path


def read_timeseries(fname: str | os.PathLike) -> RegionTimeseries:
    """Read what :meth:`RegionTimeseries.save` wrote.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from neurotwin.io import RegionTimeseries, read_timeseries
    >>> ts = RegionTimeseries(np.arange(6.0).reshape(3, 2) / 7, ["A", "B"], tr=0.72)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     back = read_timeseries(ts.save(pathlib.Path(d) / "x_timeseries.tsv"))
    >>> bool(np.array_equal(back.data, ts.data)), back.tr
    (True, 0.72)
    """
    path = Path(fname)
    side_path = path.with_name(path.name.rsplit(".", 1)[0] + ".json")
    if not path.is_file() or not side_path.is_file():
        raise MissingFileError(f"{path}: time series or its JSON sidecar ({side_path.name}) is missing.")
    table = pd.read_csv(path, sep="\t")
    side = json.loads(side_path.read_text())
    conf = pd.DataFrame(side["Confounds"]) if "Confounds" in side else None
    return RegionTimeseries(table.to_numpy(float), list(table.columns), float(side["RepetitionTime"]), conf)
