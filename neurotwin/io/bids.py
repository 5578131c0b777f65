"""Study discovery: which subjects, sessions and recordings a dataset holds.

A BIDS dataset (``sub-<label>/[ses-<label>/]<datatype>/<name>``) is parsed
with mne-bids' file-name rules, plus the checks it leaves out (labels must
be alphanumeric; the ``sub-``/``ses-`` of a name must match its folders).
A plain folder of recordings is accepted too, mapped by one rule:

* ``ROOT/<file>``: subject = the file name without extension;
* ``ROOT/<subject>/<file>``: one session, files are runs in name order;
* ``ROOT/<subject>/<session>/<file>`` (deeper folders are ignored);
* or ``pattern=``, a regular expression matched against the path relative
  to ``ROOT`` with named groups ``subject`` and optionally ``session``,
  ``task``, ``run`` (e.g. ``r"(?P<subject>Subject\\d+)_(?P<session>\\d)\\.edf"``).

Files that break the rules are reported in :attr:`Study.problems`, never
crashed on. Identifying ``participants.tsv`` columns are dropped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .._docs import fill_doc
from .._logging import logger, verbose
from .._validation import did_you_mean
from ..errors import ConfigError, DataError, MissingFileError
from ._registry import match_reader
from .deidentify import scrub_participants

__all__ = ["Study", "discover_study"]

_DATATYPES = ("eeg", "meg", "ieeg", "anat", "func", "dwi")
_SKIP_DIRS = {"derivatives", "sourcedata", "code", "stimuli", ".git", ".datalad"}
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
_MEG_FORMATS = {"KIT", "CTF", "BTi/4D"}
_EEG_FORMATS = {"EDF", "BDF", "GDF", "BrainVision", "EEGLAB", "CNT", "EGI", "EGI simple binary"}
_COLUMNS = ["subject", "session", "datatype", "suffix", "task", "run", "format", "path"]


# MNE's names for FIF files that hold no raw recording
_NOT_RAW_FIF = re.compile(
    r"[-_](cov|trans|fwd|inv|bem|bem-sol|sol|epo|ave|fiducials|head|src|morph|ica|"
    r"proj|eve|annot)\.fif(\.gz)?$",
    re.IGNORECASE,
)


def _match_spec(path: Path):
    """The ephys/MRI reader for a data path (None for sidecars and others)."""
    spec = match_reader(path)
    if spec is None or spec.modality not in ("ephys", "mri") or spec.is_dir != path.is_dir():
        return None
    if spec.name == "FIF" and _NOT_RAW_FIF.search(path.name):
        return None
    return spec


@dataclass
class Study:
    """Subjects x sessions x recordings of one dataset.

    Attributes
    ----------
    root : pathlib.Path
        The dataset folder.
    layout : str
        ``"bids"`` or ``"folder"``.
    recordings : pandas.DataFrame
        One row a recording: subject, session, datatype (eeg, meg, ieeg,
        anat, func, ...), suffix, task, run, format, path.
    participants : pandas.DataFrame
        ``participants.tsv`` without identifying columns (may be empty).
    problems : list of tuple
        ``(path, reason)`` for files that could not be mapped.

    Examples
    --------
    >>> from neurotwin.datasets import sample_data_path
    >>> from neurotwin.io import discover_study
    >>> study = discover_study(sample_data_path())
    >>> study.subjects
    ['01', '02', '03']
    """

    root: Path
    layout: str
    recordings: pd.DataFrame
    participants: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def subjects(self) -> list[str]:
        """Subject labels, sorted."""
        return sorted(self.recordings["subject"].unique(), key=natural_key)

    def sessions(self, subject: str) -> list[str]:
        """Session labels of one subject, in natural order (``""`` if none).

        Examples
        --------
        >>> from neurotwin.datasets import sample_data_path
        >>> from neurotwin.io import discover_study
        >>> discover_study(sample_data_path()).sessions("02")
        ['01', '02', '03']
        """
        rows = self.recordings[self.recordings["subject"] == subject]
        if rows.empty:
            raise DataError(f"No subject {subject!r} in {self.root}.{did_you_mean(subject, self.subjects)}")
        return sorted(rows["session"].unique(), key=natural_key)

    def select(self, subject=None, session=None, datatype=None) -> pd.DataFrame:
        """Rows of :attr:`recordings` matching the given labels (None: any).

        Parameters
        ----------
        subject, session, datatype : str | list of str | None
            Labels to keep.

        Returns
        -------
        rows : pandas.DataFrame
            The matching recordings.

        Examples
        --------
        >>> from neurotwin.datasets import sample_data_path
        >>> from neurotwin.io import discover_study
        >>> len(discover_study(sample_data_path()).select(subject="02", datatype="eeg"))
        3
        """
        rec = self.recordings
        for col, val in (("subject", subject), ("session", session), ("datatype", datatype)):
            if val is not None:
                vals = [val] if isinstance(val, str) else list(val)
                rec = rec[rec[col].isin(vals)]
        return rec

    def table(self) -> pd.DataFrame:
        """Subjects x sessions summary: recordings per datatype, plus the
        participants' (non-identifying) metadata.

        Returns
        -------
        table : pandas.DataFrame
            One row per subject and session.

        Examples
        --------
        >>> from neurotwin.datasets import sample_data_path
        >>> from neurotwin.io import discover_study
        >>> discover_study(sample_data_path()).table()[["subject", "session", "eeg"]].head(2)
          subject session  eeg
        0      01      01    1
        1      01      02    1
        """
        rec = self.recordings
        if rec.empty:
            return pd.DataFrame(columns=["subject", "session"])
        counts = rec.groupby(["subject", "session", "datatype"]).size().unstack(fill_value=0).reset_index()
        counts.columns.name = None
        if not self.participants.empty and "participant_id" in self.participants:
            meta = self.participants.copy()
            meta["subject"] = meta["participant_id"].astype(str).str.replace(r"^sub-", "", regex=True)
            meta = meta.drop(columns="participant_id")
            counts = counts.merge(meta, on="subject", how="left")
        order = sorted(
            range(len(counts)),
            key=lambda i: (natural_key(counts["subject"].iloc[i]), natural_key(counts["session"].iloc[i])),
        )
        return counts.iloc[order].reset_index(drop=True)

    def __repr__(self) -> str:
        n_ses = self.recordings.groupby("subject")["session"].nunique().sum() if len(self.recordings) else 0
        return (
            f"<Study {self.root.name} ({self.layout}) | {len(self.subjects)} subjects, "
            f"{n_ses} sessions, {len(self.recordings)} recordings, {len(self.problems)} problems>"
        )


def read_bids_tsv(path: Path) -> pd.DataFrame:
    """A BIDS table (``participants``/``scans``/``events``/``channels.tsv``) as text, ``n/a`` kept as written.

    Raises
    ------
    DataError
        If the file is empty, not UTF-8 or not a tab-separated table; the
        message names it.
    """
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(
            f"{path}: cannot be read as a UTF-8 tab-separated table "
            f"({type(err).__name__}: {err}). Save it again as UTF-8 text."
        ) from None


def name_entities(name: str) -> dict[str, str]:
    """The ``key-value`` entities of a BIDS file name, by their short keys, in order.

    Examples
    --------
    >>> name_entities("sub-01_ses-02_task-rest_run-1_eeg.edf")
    {'sub': '01', 'ses': '02', 'task': 'rest', 'run': '1'}
    """
    stem = Path(name).name.split(".")[0]
    return dict(part.split("-", 1) for part in stem.split("_") if "-" in part)


def natural_key(label: str):
    """Sort key of a label in natural order (``2`` before ``10``).

    Examples
    --------
    >>> from neurotwin.io.bids import natural_key
    >>> sorted(["10", "2", "1"], key=natural_key)
    ['1', '2', '10']
    """
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(label))]


def _walk(root: Path):
    """Yield data paths below root (files, and folder formats like .ds)."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if d in _SKIP_DIRS or d.startswith("."):
                continue
            if _match_spec(here / d) is not None:
                yield here / d
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if not f.startswith("."):
                yield here / f


def _parse_bids(path: Path, root: Path):
    """Return (row, None) or (None, reason) for a file in a BIDS tree."""
    from mne_bids import get_entities_from_fname

    rel = path.relative_to(root)
    parts = rel.parts
    name = path.name
    if not name.startswith("sub-"):
        return None, "name does not start with 'sub-<label>'"
    try:
        ent = get_entities_from_fname(name, on_error="raise", verbose=False)
    except (KeyError, ValueError, RuntimeError) as err:
        return None, f"not a BIDS name ({err})"
    for key in ("subject", "session", "task", "run", "acquisition"):
        val = ent.get(key)
        if val is not None and not _LABEL.match(val):
            return None, f"{key} label {val!r} is not alphanumeric"
    if parts[0] != f"sub-{ent['subject']}":
        return None, f"subject in name ({ent['subject']}) differs from its folder {parts[0]}"
    session = ent.get("session") or ""
    folder_ses = parts[1][4:] if len(parts) > 2 and parts[1].startswith("ses-") else ""
    if session != folder_ses:
        return None, f"session in name ({session or 'none'}) differs from its folder ({folder_ses or 'none'})"
    datatype = parts[-2] if len(parts) >= 2 else ""
    if datatype not in _DATATYPES:
        return None, f"folder {datatype!r} is not a BIDS datatype ({', '.join(_DATATYPES)})"
    stem = name.split(".")[0]
    suffix = stem.rsplit("_", 1)[-1] if "_" in stem else ""
    return {
        "subject": ent["subject"],
        "session": session,
        "datatype": datatype,
        "suffix": suffix,
        "task": ent.get("task") or "",
        "run": ent.get("run") or "",
    }, None


def _parse_folder(path: Path, root: Path, spec, pattern: re.Pattern | None):
    rel = path.relative_to(root)
    if pattern is not None:
        m = pattern.search(rel.as_posix())
        if m is None:
            return None, f"does not match pattern {pattern.pattern!r}"
        g = m.groupdict()
        if not g.get("subject"):
            return None, "pattern matched but gave no subject"
        row = {
            "subject": g["subject"],
            "session": g.get("session") or "",
            "task": g.get("task") or "",
            "run": g.get("run") or "",
        }
    else:
        parts = rel.parts
        stem = parts[-1]
        for ext in spec.extensions:
            if stem.lower().endswith(ext):
                stem = stem[: -len(ext)]
        if len(parts) == 1:
            row = {"subject": stem, "session": "", "task": "", "run": ""}
        elif len(parts) == 2:
            row = {"subject": parts[0], "session": "", "task": "", "run": stem}
        elif len(parts) == 3:
            row = {"subject": parts[0], "session": parts[1], "task": "", "run": stem}
        else:
            return None, "more than two folder levels below the root; pass pattern="
    if spec.modality == "mri":
        datatype = "mri"
    elif spec.name in _MEG_FORMATS:
        datatype = "meg"
    elif spec.name in _EEG_FORMATS:
        datatype = "eeg"
    elif spec.name == "FIF":
        datatype = _fif_datatype(path)
    else:
        datatype = "ephys"
    row.update(datatype=datatype, suffix="")
    return row, None


def _fif_datatype(path: Path) -> str:
    """``meg``, ``ieeg`` or ``eeg`` from a FIF file's channels (its header only); ``ephys`` if unreadable."""
    import mne

    try:
        info = mne.io.read_info(path, verbose="error")
    except Exception:  # a damaged file: the reader says why when the recording is read
        return "ephys"
    types = set(info.get_channel_types())
    if types & {"mag", "grad"}:
        return "meg"
    if types & {"seeg", "ecog", "dbs"}:
        return "ieeg"
    return "eeg" if "eeg" in types else "ephys"


@fill_doc
@verbose
def discover_study(
    root: str | os.PathLike,
    *,
    pattern: str | None = None,
    verbose: bool | str | int | None = None,
) -> Study:
    """List the subjects, sessions and recordings of a dataset.

    Parameters
    ----------
    root : str | os.PathLike
        A BIDS dataset, or a plain folder of recordings (see the module
        docstring for the mapping rule).
    pattern : str | None
        For plain folders: a regular expression with named groups
        ``subject`` (required), ``session``, ``task``, ``run``, searched in
        each file's path relative to ``root``.
    %(verbose)s

    Returns
    -------
    study : Study
        The recordings table, participants metadata and problems found.

    Raises
    ------
    neurotwin.errors.DataError
        If ``root`` is missing or not a folder, or holds no recording.

    Examples
    --------
    >>> from neurotwin.datasets import sample_data_path
    >>> from neurotwin.io import discover_study
    >>> study = discover_study(sample_data_path())
    >>> study.sessions("01")
    ['01', '02', '03']
    """
    root = Path(root)
    if not root.exists():
        raise MissingFileError(f"{root}: no such folder.")
    if not root.is_dir():
        raise DataError(f"{root}: is a file; pass the folder of the study.")
    is_bids = (root / "dataset_description.json").is_file() or any(
        p.is_dir() and p.name.startswith("sub-") for p in root.iterdir()
    )
    regex = None
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ConfigError(f"pattern {pattern!r} is not a valid regular expression: {err}") from None
        if "subject" not in regex.groupindex:
            raise ConfigError("pattern needs a named group (?P<subject>...).")
    rows, problems = [], []
    for path in _walk(root):
        spec = _match_spec(path)
        if spec is None:
            continue  # sidecars, companions (.fdt, .eeg, .vmrk) and other files
        if is_bids and regex is None:
            if path.relative_to(root).parts[0].startswith("sub-") or path.name.startswith("sub-"):
                row, why = _parse_bids(path, root)
            else:
                continue  # top-level files of a BIDS dataset are not recordings
        else:
            row, why = _parse_folder(path, root, spec, regex)
        if row is None:
            problems.append((str(path.relative_to(root)), why))
            logger.warning("Skipped %s: %s", path.relative_to(root), why)
            continue
        row.update(format=spec.name, path=str(path))
        rows.append(row)
    rec = pd.DataFrame(rows, columns=_COLUMNS)
    if rec.empty:
        raise DataError(
            f"{root}: no recordings found ({len(problems)} file(s) could not be "
            "mapped). Point to a BIDS dataset or a folder of EEG/MEG/MRI files."
        )
    participants = pd.DataFrame()
    tsv = root / "participants.tsv"
    if tsv.is_file():
        try:
            participants = scrub_participants(read_bids_tsv(tsv))
        except DataError as err:
            problems.append(("participants.tsv", f"unreadable ({err}); not used"))
            logger.warning("%s; the participants' table is not used", err)
    study = Study(root, "bids" if is_bids and regex is None else "folder", rec, participants, problems)
    logger.info("%r", study)
    return study
