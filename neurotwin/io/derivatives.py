"""The layout of a derivatives folder, in one place: where the store, logs, reports and cache live.

``OUT`` (a BIDS-derivatives dataset) holds, besides the per-recording
outputs (``sub-X/[ses-Y/]<datatype>/...``):

* ``dataset_description.json``, whose ``DatasetLinks.raw`` points back to
  the raw study;
* ``logs/status_<pipeline>.tsv`` (one row per recording) and
  ``logs/twins_<pipeline>.tsv`` (one row per subject's twin);
* ``twins/twins.sqlite``, the twin store;
* ``sub-<label>.html`` and ``group/`` (the study's tables and report);
* ``.neurotwin/`` (the step cache ``work/``, the reports' figure cache ``report/`` and the
  study key ``deid.key``),
  never to be published.

Examples
--------
>>> from neurotwin.io import Derivatives
>>> out = Derivatives("derivatives")
>>> str(out.store), str(out.status_log("resting_eeg"))
('derivatives/twins/twins.sqlite', 'derivatives/logs/status_resting_eeg.tsv')
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .._keys import study_key_path

__all__ = ["Derivatives", "STORE_NAME", "output_desc", "is_output_desc"]

#: the twin database, relative to the derivatives folder
STORE_NAME = Path("twins") / "twins.sqlite"


def output_desc(pipeline_desc: str, input_desc: str | None = None) -> str:
    """The ``desc-`` of a pipeline's output: its own, after the input's when it has one.

    Examples
    --------
    >>> from neurotwin.io.derivatives import output_desc
    >>> output_desc("volumes"), output_desc("volumes", "aseg")
    ('volumes', 'asegVolumes')
    """
    if not input_desc:
        return pipeline_desc
    return input_desc + pipeline_desc[:1].upper() + pipeline_desc[1:]


def is_output_desc(desc: str, pipeline_desc: str) -> bool:
    """Whether a file's ``desc-`` value is one :func:`output_desc` gives the pipeline.

    Examples
    --------
    >>> from neurotwin.io.derivatives import is_output_desc
    >>> is_output_desc("asegVolumes", "volumes"), is_output_desc("clean", "volumes")
    (True, False)
    """
    tail = pipeline_desc[:1].upper() + pipeline_desc[1:]
    return desc == pipeline_desc or (len(desc) > len(tail) and desc.endswith(tail))


@dataclass(frozen=True)
class Derivatives:
    """A derivatives folder's paths and the small tables every stage reads (status, session days).

    Parameters
    ----------
    root : path
        The derivatives folder (``OUT``).

    Examples
    --------
    >>> from neurotwin.io import Derivatives
    >>> Derivatives("derivatives").subject_page("02").name
    'sub-02.html'
    """

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    @property
    def store(self) -> Path:
        """The twin store (``twins/twins.sqlite``)."""
        return self.root / STORE_NAME

    @property
    def logs(self) -> Path:
        """The run logs' folder."""
        return self.root / "logs"

    def status_log(self, pipeline: str) -> Path:
        """Each recording's status under a pipeline (``logs/status_<pipeline>.tsv``)."""
        return self.logs / f"status_{pipeline}.tsv"

    def twins_log(self, pipeline: str) -> Path:
        """Each subject's twin status under a pipeline (``logs/twins_<pipeline>.tsv``)."""
        return self.logs / f"twins_{pipeline}.tsv"

    def twin_logs(self) -> list[Path]:
        """Every pipeline's twins log."""
        return sorted(self.logs.glob("twins_*.tsv"))

    @property
    def group(self) -> Path:
        """The group level's folder."""
        return self.root / "group"

    @property
    def group_page(self) -> Path:
        """The study report."""
        return self.group / "report.html"

    def subject_page(self, subject: str) -> Path:
        """A patient's report."""
        return self.root / f"sub-{subject}.html"

    @property
    def work(self) -> Path:
        """The default step cache (``.neurotwin/work``)."""
        return self.root / ".neurotwin" / "work"

    @property
    def figure_cache(self) -> Path:
        """The reports' cache of drawn QC figures (``.neurotwin/report``; ``neurotwin clean`` empties it)."""
        return self.root / ".neurotwin" / "report"

    @property
    def key_file(self) -> Path:
        """The study's de-identification key (``.neurotwin/deid.key``)."""
        return study_key_path(self.root)

    def raw_root(self) -> Path | None:
        """The raw study these derivatives were made from (``DatasetLinks.raw``), if recorded."""
        desc = self.root / "dataset_description.json"
        if not desc.is_file():
            return None
        link = json.loads(desc.read_text()).get("DatasetLinks", {}).get("raw")
        return (self.root / link).resolve() if link else None

    def read_log(self, path: Path) -> pd.DataFrame | None:
        """A log table as strings (None when it does not exist yet)."""
        if not path.is_file():
            return None
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)

    def session_days(self, subject: str, sessions: list[str]) -> dict[str, float]:
        """Days since the subject's first session, from the raw study's ``scans.tsv`` (:mod:`.sessions`);
        ``{}`` when the raw study is not where the derivatives say."""
        from .sessions import session_days

        root = self.raw_root()
        if root is None or not root.is_dir():
            return {}
        return session_days(root, subject, sessions)
