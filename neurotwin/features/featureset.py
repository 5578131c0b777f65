"""FeatureSet: the labelled table of features of one or many recordings.

One row a value: subject, session, modality, feature, location (a channel,
a region, a ``A--B`` pair or ``global``), band, value, its standard error
``se`` measured from the recording (:mod:`neurotwin.features.uncertainty`;
NaN where none is measured), unit and status (``ok``, or why the value
could not be computed: a value is never a silent NaN). Arrays that need
their shape (a PSD, a connectivity matrix) are kept beside the table with
their axis labels. Saved as a BIDS-style
TSV, an NPZ of the arrays and a JSON sidecar of provenance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, MissingFileError

__all__ = ["COLUMNS", "FeatureArray", "FeatureSet", "read_featureset"]

COLUMNS = ["subject", "session", "modality", "feature", "location", "band", "value", "se", "unit", "status"]


@dataclass(frozen=True)
class FeatureArray:
    """An array with named axes and axis labels (e.g. PSD: channel x freq).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features import FeatureArray
    >>> a = FeatureArray(np.ones((2, 3)), ("channel", "freq"), {"channel": ["O1", "O2"],
    ...                  "freq": [8.0, 8.5, 9.0]}, unit="uV^2/Hz")
    >>> a.shape
    (2, 3)
    """

    values: np.ndarray
    dims: tuple[str, ...]
    coords: dict[str, list] = field(default_factory=dict)
    unit: str = ""

    def __post_init__(self):
        values = np.asarray(self.values)
        if values.ndim != len(self.dims):
            raise DataError(f"array of shape {values.shape} does not match dims {self.dims}.")
        for dim, labels in self.coords.items():
            if dim not in self.dims or len(labels) != values.shape[self.dims.index(dim)]:
                raise DataError(f"coords of {dim!r} ({len(labels)}) do not match the array {values.shape}.")
        object.__setattr__(self, "values", values)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the values."""
        return self.values.shape


@dataclass
class FeatureSet:
    """Features of one or more recordings: a tidy table plus shaped arrays.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`COLUMNS`.
    arrays : dict of str to FeatureArray
        Keyed ``"<subject>/<session>/<name>"`` once sets are combined.
    provenance : dict
        How the features were computed (settings, library versions).

    Examples
    --------
    >>> from neurotwin.features import FeatureSet
    >>> fs = FeatureSet.from_rows([{"feature": "iaf", "location": "O1", "value": 10.1, "unit": "Hz"}],
    ...                           subject="01", session="01", modality="eeg")
    >>> fs.get("iaf", location="O1")
    10.1
    """

    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COLUMNS))
    arrays: dict[str, FeatureArray] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        if "se" not in self.table.columns:  # tables written before SEs were measured
            self.table = self.table.assign(se=np.nan)
        missing = [c for c in COLUMNS if c not in self.table.columns]
        if missing:
            raise DataError(f"a feature table needs the columns {missing}.")
        self.table = self.table[COLUMNS].reset_index(drop=True)

    @classmethod
    def from_rows(
        cls,
        rows: list[dict],
        *,
        subject: str = "",
        session: str = "",
        modality: str = "",
        arrays: dict | None = None,
        provenance: dict | None = None,
    ) -> FeatureSet:
        """Build a set from row dicts (missing fields filled: band "", status "ok")."""
        base = {
            "subject": subject,
            "session": session,
            "modality": modality,
            "location": "global",
            "band": "",
            "unit": "",
            "status": "ok",
        }
        table = pd.DataFrame([{**base, **r} for r in rows], columns=COLUMNS)
        table["value"] = table["value"].astype(float)
        table["se"] = table["se"].astype(float)
        return cls(table, dict(arrays or {}), dict(provenance or {}))

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        feats = sorted(set(self.table["feature"]))
        return (
            f"<FeatureSet | {len(self.table)} values, {len(feats)} features "
            f"({', '.join(feats[:6])}{', ...' if len(feats) > 6 else ''}), {len(self.arrays)} arrays>"
        )

    def get(self, feature: str, location: str | None = None, band: str | None = None):
        """The value(s) of one feature (a float when one row matches, else a Series)."""
        t = self.table[self.table["feature"] == feature]
        if location is not None:
            t = t[t["location"] == location]
        if band is not None:
            t = t[t["band"] == band]
        if t.empty:
            raise DataError(f"no feature {feature!r} (location={location}, band={band}) in this set.")
        return float(t["value"].iloc[0]) if len(t) == 1 else t.set_index("location")["value"]

    def tagged(self, tag: str) -> FeatureSet:
        """The same features with their arrays, settings and table locations named ``"<tag>:<name>"``.

        Two recordings of one session whose features have arrays of the same
        name (the PSD of an EEG and of an MEG recording) can then be joined
        by :func:`concat` without one replacing the other, and their values
        of the same place (each one's channel mean) stay apart; :meth:`view`
        gives the tagged ones back under their own names.

        Examples
        --------
        >>> from neurotwin.features import FeatureArray, FeatureSet
        >>> fs = FeatureSet(arrays={"psd": FeatureArray([1.0], ("freq",), {"freq": [10.0]})},
        ...                 provenance={"psd": {"n_averages": 30}})
        >>> meg = fs.tagged("meg")
        >>> sorted(meg.arrays), sorted(meg.provenance), sorted(meg.view("meg").arrays)
        (['meg:psd'], ['meg:psd'], ['psd'])
        """

        def name(key: str) -> str:
            head, _, base = key.rpartition("/")
            return f"{head}/{tag}:{base}" if head else f"{tag}:{base}"

        table = self.table.assign(location=[f"{tag}:{loc}" for loc in self.table["location"]])
        return FeatureSet(
            table,
            {name(k): a for k, a in self.arrays.items()},
            {f"{tag}:{k}": v for k, v in (self.provenance or {}).items()},
        )

    def view(self, tag: str) -> FeatureSet:
        """The features as the recording tagged ``tag`` has them (:meth:`tagged`): its arrays and
        settings under their own names, over the others', and its table rows. Untagged features are
        returned as they are."""
        mark = f"{tag}:"
        arrays = {k: a for k, a in self.arrays.items() if ":" not in k.rpartition("/")[2]}
        tagged = {}
        for k, a in self.arrays.items():
            head, _, base = k.rpartition("/")
            if base.startswith(mark):
                tagged[f"{head}/{base[len(mark) :]}" if head else base[len(mark) :]] = a
        if not tagged:
            return self
        own = {k[len(mark) :]: v for k, v in (self.provenance or {}).items() if k.startswith(mark)}
        rows = self.table[self.table["location"].astype(str).str.startswith(mark)]
        table = rows.assign(location=[loc[len(mark) :] for loc in rows["location"]])
        rest = {k: v for k, v in (self.provenance or {}).items() if ":" not in k}
        replaced = {t.rpartition("/")[2] for t in tagged}
        untouched = {k: a for k, a in arrays.items() if k.rpartition("/")[2] not in replaced}
        return FeatureSet(table, {**untouched, **tagged}, {**rest, **own})

    def save(self, fname: str | os.PathLike) -> Path:
        """Write ``<stem>_features.tsv`` (+ ``.npz`` arrays, ``.json`` provenance).

        ``fname`` is the TSV path; returns it.
        """
        path = Path(fname)
        stem = path.name.rsplit(".", 1)[0]
        self.table.to_csv(path, sep="\t", index=False, float_format="%.10g", na_rep="n/a")
        meta = {"provenance": self.provenance, "arrays": {}}
        if self.arrays:
            np.savez_compressed(
                path.with_name(stem + ".npz"),
                **{f"a{i}": a.values for i, a in enumerate(self.arrays.values())},
            )
            for i, (name, a) in enumerate(self.arrays.items()):
                meta["arrays"][name] = {
                    "key": f"a{i}",
                    "dims": list(a.dims),
                    "unit": a.unit,
                    "coords": {
                        k: [v if isinstance(v, str) else float(v) for v in c] for k, c in a.coords.items()
                    },
                }
        path.with_name(stem + ".json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        return path


def read_featureset(fname: str | os.PathLike) -> FeatureSet:
    """Read a FeatureSet written by :meth:`FeatureSet.save`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neurotwin.features import FeatureSet, read_featureset
    >>> fs = FeatureSet.from_rows([{"feature": "iaf", "location": "O1", "value": 10.1, "unit": "Hz"}])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     back = read_featureset(fs.save(pathlib.Path(d) / "x_features.tsv"))
    >>> back.get("iaf", "O1")
    10.1
    """
    path = Path(fname)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such feature table.")
    stem = path.name.rsplit(".", 1)[0]
    table = pd.read_csv(
        path,
        sep="\t",
        dtype={c: str for c in COLUMNS if c not in ("value", "se")},
        keep_default_na=False,
        na_values={"value": ["n/a"], "se": ["n/a"]},
    )
    meta_path = path.with_name(stem + ".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"provenance": {}, "arrays": {}}
    arrays = {}
    if meta["arrays"]:
        with np.load(path.with_name(stem + ".npz")) as npz:
            for name, m in meta["arrays"].items():
                arrays[name] = FeatureArray(npz[m["key"]], tuple(m["dims"]), m["coords"], m["unit"])
    provenance = dict(meta["provenance"])
    interpolated = interpolated_channels(meta.get("Steps", []))
    if interpolated:
        provenance[INTERPOLATED] = interpolated
    return FeatureSet(table, arrays, provenance)


#: the provenance key of the channels whose signal was interpolated from their neighbours
INTERPOLATED = "interpolated"


def interpolated_channels(steps: list) -> list[str]:
    """The channels a recording's steps interpolated (the ``interpolate`` step's log), sorted.

    ``steps``: a derivative sidecar's ``Steps`` (each ``{"step", "log"}``),
    or the entries :meth:`Pipeline.process` logs (each ``{"step", ...}``).

    An interpolated channel's values are its neighbours' spline, not a
    measurement of its electrode: change detection does not test them
    (:func:`neurotwin.twin.longitudinal.session_values`).

    Examples
    --------
    >>> from neurotwin.features.featureset import interpolated_channels
    >>> steps = [{"step": "bandpass", "log": {}}, {"step": "interpolate", "log": {"interpolated": ["T7"]}}]
    >>> interpolated_channels(steps), interpolated_channels([{"step": "interpolate", "interpolated": ["O1"]}])
    (['T7'], ['O1'])
    """
    out: set = set()
    for step in steps or []:
        if isinstance(step, dict) and step.get("step") == "interpolate":
            out.update(step.get("log", step).get("interpolated") or [])
    return sorted(out)


def concat(sets: list[FeatureSet]) -> FeatureSet:
    """Stack feature sets (sessions, subjects, modalities) into one; arrays keyed by subject/session.

    The provenance keeps what the sets agree on or only one of them records
    (a None is not a record), and merges tables of settings whose entries do
    not conflict (each feature's parameters, when EEG and BOLD are joined).

    Examples
    --------
    >>> from neurotwin.features import FeatureSet, concat
    >>> a = FeatureSet.from_rows([{"feature": "iaf", "value": 10.0}], subject="01", session="01")
    >>> b = FeatureSet.from_rows([{"feature": "iaf", "value": 9.5}], subject="01", session="02")
    >>> concat([a, b]).table["value"].tolist()
    [10.0, 9.5]
    """
    if not sets:
        raise DataError("nothing to concatenate.")
    arrays = {}
    for fs in sets:
        who = f"{fs.table['subject'].iloc[0]}/{fs.table['session'].iloc[0]}" if len(fs) else ""
        for name, a in fs.arrays.items():
            key = name if name.count("/") >= 2 else f"{who}/{name}"
            if key in arrays:  # (one would be lost: e.g. the PSDs of an EEG and an MEG recording)
                raise DataError(
                    f"two of these feature sets of {who or 'one session'} have an array {name!r}; "
                    f"only one can be kept per session (join the recordings' features another way, "
                    f"or keep one of them)."
                )
            arrays[key] = a
    # provenance: what the sets agree on, and what only one of them records (e.g. the EEG's PSD
    # settings next to the BOLD's), so that one session's modalities joined keep theirs
    # settings (None: not recorded, e.g. a BOLD set's "psd"); tables of settings that do not conflict
    # (each feature's parameters) are merged
    prov, seen = {}, {}
    for fs in sets:
        for key, value in (fs.provenance or {}).items():
            if value is not None:
                seen.setdefault(key, []).append(value)
    for key, values in seen.items():
        if all(v == values[0] for v in values):
            prov[key] = values[0]
        elif all(isinstance(v, dict) for v in values):
            merged: dict = {}
            for v in values:
                for k, x in v.items():
                    merged.setdefault(k, []).append(x)
            if all(all(x == xs[0] for x in xs) for xs in merged.values()):
                prov[key] = {k: xs[0] for k, xs in merged.items()}
    return FeatureSet(pd.concat([s.table for s in sets], ignore_index=True), arrays, prov)
