"""The pipeline runner: a validated definition applied to a whole study.

:class:`Pipeline` is the Python face of ``neurotwin run``: it turns a
study into tasks (one per subject and session), runs them serially, in a
process pool or on Dask, writes a BIDS-derivatives dataset, and reports
what ran, what came from the cache and what failed.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import __version__
from .._docs import fill_doc
from .._keys import ensure_study_key
from .._logging import logger, verbose
from .._validation import check_option, check_range, check_type
from ..errors import ConfigError, DataError, NeurotwinError
from ..io import Study, discover_study
from ..io.derivatives import Derivatives
from . import _backends
from ._cache import atomic_files, clean_temporaries
from ._execute import Recording, Task, TaskResult, _dumps
from ._progress import Progress
from ._select import read_bids_filter, select_recordings
from ._sources import run_sources, twin_sources
from ._workdir import default_work_dir, mark_work
from .config import PipelineConfig, load_config

__all__ = ["Pipeline", "RunResult", "load"]

#: exit codes of ``neurotwin run``
EXIT_OK, EXIT_USAGE, EXIT_PARTIAL, EXIT_ALL_FAILED = 0, 2, 3, 4
_ENTITY_ORDER = ("subject", "session", "task", "acquisition", "run")
_SHORT = {"subject": "sub", "session": "ses", "task": "task", "acquisition": "acq", "run": "run"}


def _label(value) -> str:
    """A BIDS label from any string: alphanumerics only."""
    return re.sub(r"[^A-Za-z0-9]", "", str(value))


@dataclass
class RunResult:
    """The outcome of one run over a study.

    Attributes
    ----------
    tasks : list of TaskResult
        One per subject/session, in subject/session order.
    out_dir : pathlib.Path
        The derivatives folder.
    seconds : float
        Wall time of the run.
    twins : DataFrame | None
        One row a subject's twin (status, sessions, alerts), when the
        pipeline fits twins.
    reports : dict
        ``{subject: report path or "failed: ..."}``.
    skipped : list of (subject, session, source, reason)
        The recordings of the pipeline's kind that the selection left out
        (another task or run, the BIDS filter), with the reason.

    Examples
    --------
    >>> from neurotwin.pipeline.runner import RunResult
    >>> result = RunResult(skipped=[("01", "01", "sub-01_ses-01_task-arith_eeg.edf", "task arith")])
    >>> result.exit_code, result.summary()[["source", "status", "error"]].values.tolist()
    (0, [['sub-01_ses-01_task-arith_eeg.edf', 'skipped', 'task arith']])
    """

    tasks: list[TaskResult] = field(default_factory=list)
    out_dir: Path | None = None
    seconds: float = 0.0
    twins: pd.DataFrame | None = None
    reports: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        """Number of failed tasks."""
        return sum(t.status == "failed" for t in self.tasks)

    @property
    def executed(self) -> int:
        """Number of step executions in this run (0: nothing needed doing)."""
        return sum(t.executed for t in self.tasks)

    @property
    def exit_code(self) -> int:
        """0 all done, 3 some tasks (or twins) failed, 4 all failed (2: usage errors, raised earlier)."""
        twin_failed = self.twins is not None and (self.twins["status"] == "failed").any()
        if not self.n_failed:
            return EXIT_PARTIAL if twin_failed else EXIT_OK
        return EXIT_ALL_FAILED if self.n_failed == len(self.tasks) else EXIT_PARTIAL

    def summary(self) -> pd.DataFrame:
        """One row per recording: subject, session, source, status, steps run/cached, seconds, error.

        Recordings the selection left out have status ``skipped`` and the
        reason in ``error``.
        """
        rows = []
        for t in self.tasks:
            for r in t.recordings:
                rows.append(
                    {
                        "subject": t.subject,
                        "session": t.session or "",
                        "source": r["source"],
                        "status": r["status"],
                        "ran": len(r.get("executed", [])),
                        "cached": len(r.get("cached", [])),
                        "seconds": r.get("seconds", 0.0),
                        "error": r.get("error", ""),
                    }
                )
        for sub, ses, source, reason in self.skipped:
            rows.append(
                {
                    "subject": sub,
                    "session": ses,
                    "source": source,
                    "status": "skipped",
                    "ran": 0,
                    "cached": 0,
                    "seconds": 0.0,
                    "error": reason,
                }
            )
        return pd.DataFrame(
            rows, columns=["subject", "session", "source", "status", "ran", "cached", "seconds", "error"]
        ).sort_values(["subject", "session", "source"], ignore_index=True)

    def __repr__(self) -> str:
        return (
            f"<RunResult | {len(self.tasks)} tasks, {self.n_failed} failed, "
            f"{self.executed} steps run, {self.seconds:.1f} s>"
        )


def _dataset_description(cfg: PipelineConfig, study: Study, out: Path) -> dict:
    import mne
    import mne_bids
    import nibabel
    import numpy
    import scipy

    # not the raw dataset's Name: it may name a hospital or a cohort (the raw folder is linked below)
    return {
        "Name": f"neurotwin {cfg.pipeline.name} derivatives",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "neurotwin",
                "Version": __version__,
                "Description": f"pipeline {cfg.pipeline.name}: {', '.join(s.step for s in cfg.steps)}",
            }
        ],
        "SourceDatasets": [{"URL": "bids:raw"}],
        # relative: an absolute path could carry a user's or a hospital's name
        "DatasetLinks": {"raw": os.path.relpath(study.root.resolve(), out)},
        "neurotwin": {
            "Pipeline": cfg.model_dump(mode="json", exclude={"source"}),
            "Versions": {
                "python": sys.version.split()[0],
                "mne": mne.__version__,
                "mne-bids": mne_bids.__version__,
                "nibabel": nibabel.__version__,
                "numpy": numpy.__version__,
                "scipy": scipy.__version__,
            },
        },
    }


class Pipeline:
    """A validated pipeline, ready to run on a study.

    Parameters
    ----------
    config : PipelineConfig
        The definition (see :func:`load`).

    Examples
    --------
    >>> import tempfile
    >>> import neurotwin.pipeline as ntp
    >>> from neurotwin.datasets import sample_data_path
    >>> pipe = ntp.load("resting_eeg")
    >>> pipe.config.pipeline.modality, pipe.config.steps[-1].step
    ('eeg', 'features')
    >>> out = tempfile.mkdtemp()
    >>> result = pipe.run(sample_data_path(), out, participant_label=["01"], session_label=["01"],
    ...                   progress="off")
    >>> result.exit_code, result.twins["modality"].tolist()  # its EEG, MEG and BOLD: one twin
    (0, ['eeg+meg+bold'])
    >>> pipe.run(sample_data_path(), out, participant_label=["01"], session_label=["01"],
    ...          progress="off").executed  # nothing changed: nothing runs
    0
    """

    def __init__(self, config: PipelineConfig):
        self.config = check_type(config, PipelineConfig, "config")
        self.sources = twin_sources(self.config)  # a bad [twin] modalities stops here, before any work

    def __repr__(self) -> str:
        meta = self.config.pipeline
        return f"<Pipeline {meta.name} ({meta.modality}) | {', '.join(s.step for s in self.config.steps)}>"

    def process(self, data, log: list | None = None):
        """Apply the steps to one in-memory recording or image (no cache, no files).

        Steps that read other files (e.g. ``parcellate``'s label volume)
        cannot be run this way; use :meth:`run`.

        Parameters
        ----------
        data : mne.io.Raw | nibabel image
            Modified in place where the steps allow; pass a copy to keep it.
        log : list | None
            If given, receives one dict per step with what it did.

        Returns
        -------
        data
            The result of the last step.
        """
        for step in self.config.steps:
            entry: dict = {}
            data = step.apply(data, entry)
            if log is not None:
                log.append({"step": step.step, **entry})
        return data

    def select(
        self, study: Study, participant_label=None, session_label=None, task=None, run=None, bids_filter=None
    ) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
        """The recordings a run takes; ``(subject, session, source, reason)`` of each one it leaves out.

        Examples
        --------
        >>> import neurotwin.pipeline as ntp
        >>> from neurotwin.datasets import sample_data_path
        >>> rows, skipped = ntp.load("resting_eeg").select(sample_data_path(), participant_label=["02"])
        >>> len(rows), skipped
        (3, [])
        """
        if not isinstance(study, Study):
            study = discover_study(study)
        meta = self.config.pipeline
        if participant_label:
            participant_label = [re.sub(r"^sub-", "", str(x)) for x in participant_label]
        if session_label:
            session_label = [re.sub(r"^ses-", "", str(x)) for x in session_label]
        rec = study.select(subject=participant_label, session=session_label, datatype=meta.datatype)
        # files of a plain (non-BIDS) folder carry no suffix: their datatype alone says what they are
        # for EEG/MEG; MRI inputs must be BIDS-named (T1w vs dseg cannot be told from a bare name)
        plain = (rec["suffix"] == "") & (meta.modality in ("eeg", "meg"))
        rec = rec[rec["suffix"].isin(meta.suffixes) | plain]
        for which, labels, have in (
            ("participant", participant_label, study.subjects),
            ("session", session_label, None),
        ):
            if labels:
                have = have if have is not None else sorted(set(study.recordings["session"]))
                unknown = [x for x in labels if x not in have]
                if unknown:
                    raise ConfigError(f"--{which}-label {unknown}: not in {study.root} (it has {have}).")
        if isinstance(task, str):
            task = [task]
        if isinstance(run, (str, int)):
            run = [run]
        tasks = [re.sub(r"^task-", "", str(t)) for t in task] if task else meta.tasks
        runs = [re.sub(r"^run-", "", str(r)) for r in run] if run else None
        filt = read_bids_filter(bids_filter) if bids_filter is not None else None
        return select_recordings(
            rec, study.root, tasks=tasks, explicit_task=bool(task), runs=runs, bids_filter=filt
        )

    def tasks(
        self,
        study: Study,
        out_dir: Path,
        work_dir: Path,
        rows: pd.DataFrame,
        log_level: int = 30,
        keep_intermediates: bool = False,
    ) -> list[Task]:
        """The tasks of a run: one per subject/session of the recordings ``rows`` (:meth:`select`)."""
        meta = self.config.pipeline
        rec = rows
        if rec.empty:  # no recordings of this pipeline's kind (a study without BOLD)
            return []
        for col in ("subject", "session"):
            clean: dict[str, str] = {}
            for raw_label in sorted(set(rec[col])):
                other = clean.setdefault(_label(raw_label), raw_label)
                if other != raw_label:
                    raise ConfigError(
                        f"{col} labels {other!r} and {raw_label!r} both become "
                        f"{_label(raw_label)!r} in BIDS names (letters and digits only); "
                        f"rename them or map the folder with a pattern (--pattern)."
                    )
        tasks = []
        for (sub, ses), group in rec.groupby(["subject", "session"], sort=True):
            recordings = []
            for _, row in group.sort_values("path").iterrows():
                path = Path(row["path"])
                ents = [(_SHORT[k], _label(row[k])) for k in _ENTITY_ORDER if k in row and row[k]]
                if study.layout == "bids":
                    from mne_bids import get_entities_from_fname
                    from mne_bids.config import ALLOWED_PATH_ENTITIES_SHORT

                    short = {v: k for k, v in ALLOWED_PATH_ENTITIES_SHORT.items()}
                    parsed = get_entities_from_fname(path.name, on_error="ignore")
                    ents = [(short[k], v) for k, v in parsed.items() if v and k in short]
                inputs, error = [], None
                try:
                    for i, step in enumerate(self.config.steps):
                        for arg, p in step.find_inputs(path, sub, ses or None, study).items():
                            inputs.append((i, arg, str(p)))
                except NeurotwinError as err:  # fails this recording only, when its task runs
                    error = str(err)
                source = path.relative_to(study.root) if path.is_relative_to(study.root) else path.name
                recordings.append(
                    Recording(
                        str(path),
                        str(source),
                        tuple(ents),
                        meta.datatype,
                        row["suffix"],
                        tuple(inputs),
                        error,
                        str(study.root) if study.layout == "bids" else None,
                    )
                )
            tasks.append(
                Task(
                    _label(sub),
                    _label(ses) or None,
                    tuple(recordings),
                    self.config,
                    str(out_dir),
                    str(work_dir),
                    log_level,
                    keep_intermediates,
                )
            )
        return tasks

    @fill_doc
    @verbose
    def run(
        self,
        study: Study | str | os.PathLike,
        out_dir: str | os.PathLike,
        *,
        participant_label: list[str] | None = None,
        session_label: list[str] | None = None,
        jobs: int = 1,
        scheduler: str | None = None,
        dask_workers: int | None = None,
        work_dir: str | os.PathLike | None = None,
        progress: str = "auto",
        reports: bool = True,
        command: str | None = None,
        task: str | list[str] | None = None,
        run: str | int | list | None = None,
        bids_filter: str | os.PathLike | dict | None = None,
        keep_intermediates: bool = False,
        verbose: bool | str | int | None = None,
    ) -> RunResult:
        """Run the pipeline on every (selected) subject and session of a study.

        Parameters
        ----------
        study : Study | path
            A study (:func:`neurotwin.io.discover_study`) or its folder.
        out_dir : path
            The derivatives folder (created; reused by reruns).
        participant_label, session_label : list of str | None
            Only these subjects / sessions (labels without ``sub-``/``ses-``).
        jobs : int
            Worker processes on this machine (1: in this process).
        scheduler : str | None
            Address of a Dask scheduler to send the tasks to.
        dask_workers : int | None
            Start a local Dask cluster of this many workers.
        work_dir : path | None
            Where step results are cached (default ``OUT/.neurotwin/work``;
            :func:`neurotwin.pipeline.clean_work` or ``neurotwin clean``
            deletes it).
        progress : "auto" | "bar" | "lines" | "off"
            Progress display (auto: bars on a terminal, lines otherwise).
        reports : bool
            Write each subject's HTML report (``OUT/sub-<label>.html``).
        command : str | None
            The command line, recorded in the reports' provenance.
        task : str | list of str | None
            Only recordings of these tasks (labels or shell patterns); default:
            the pipeline's ``tasks`` (``resting_eeg``: ``rest*``).
        run : str | int | list | None
            Only these runs.
        bids_filter : path | dict | None
            A BIDS filter (fMRIPrep's ``--bids-filter-file`` shape; see
            :mod:`neurotwin.pipeline._select`).
        keep_intermediates : bool
            Keep every step's result in the cache, so that a rerun with a
            late step changed starts from the step before it. By default the
            cache keeps only what resuming an interrupted run needs (each
            recording's last completed step, and the steps whose results are
            outputs).
        %(verbose)s

        Returns
        -------
        result : RunResult
            Per task: status, steps run and cached, errors; the recordings
            left out and why (:attr:`RunResult.skipped`).
        """
        t0 = time.perf_counter()
        check_range(jobs, "jobs", 1)
        if dask_workers is not None:
            check_range(dask_workers, "dask_workers", 1)
        check_option(progress, ("auto", "bar", "lines", "off"), "progress")
        if not isinstance(study, Study):
            study = discover_study(study)
        out = Path(out_dir).resolve()
        root = study.root.resolve()
        if out == root or (root in out.parents and "derivatives" not in out.relative_to(root).parts):
            raise ConfigError(
                f"{out}: outputs must not go inside the raw dataset (use "
                f"{study.root}/derivatives/<name> or a folder elsewhere)."
            )
        work = Path(work_dir).resolve() if work_dir else default_work_dir(out)
        for folder, what in ((out, "output folder"), (work, "work folder")):
            if folder.exists() and not folder.is_dir():
                raise ConfigError(f"{folder}: the {what} is an existing file; pass a folder (it is created).")
        if clean_temporaries(out):
            logger.info("removed unfinished temporary outputs of an interrupted run")
        level = logger.getEffectiveLevel()
        rows, skipped = self.select(study, participant_label, session_label, task, run, bids_filter)
        for *_, source, reason in skipped:
            logger.info("skipped %s: %s", source, reason)
        tasks = self.tasks(study, out, work, rows, log_level=level, keep_intermediates=keep_intermediates)
        if not tasks:
            meta = self.config.pipeline
            why = ""
            if skipped:
                reasons = sorted({r for *_, r in skipped})
                why = (
                    f" {len(skipped)} recording(s) left out: "
                    + "; ".join(reasons[:3])
                    + ("; ..." if len(reasons) > 3 else "")
                    + "."
                )
            raise DataError(
                f"{study.root}: no {meta.datatype} recordings ({'/'.join(meta.suffixes)}) "
                f"to run {meta.name} on.{why}"
            )
        ensure_study_key(out)  # before any recording is read: it keys the date shifts and the twins' ids
        # the other pipelines the twin reads: their recordings first (same subjects, cache, backend)
        before = run_sources(
            self.sources[1:],
            study,
            out,
            participant_label=participant_label,
            session_label=session_label,
            jobs=jobs,
            scheduler=scheduler,
            dask_workers=dask_workers,
            work_dir=work_dir,
            progress=progress,
            command=command,
            bids_filter=bids_filter,
            keep_intermediates=keep_intermediates,
        )
        self._write_description(study, out)
        mark_work(work)
        bar = Progress(len(tasks), len(self.config.steps), mode=progress)
        result = RunResult(out_dir=out, skipped=skipped)
        with contextlib.ExitStack() as stack:
            # one Dask client (and local cluster) for the recordings and the twins
            client = (
                stack.enter_context(_backends.dask_client(scheduler, dask_workers))
                if scheduler or dask_workers
                else None
            )
            self._run_phases(study, out, tasks, bar, result, client, jobs, progress, t0)
        for other in before:  # one summary of every recording the run processed
            result.tasks.extend(other.tasks)
            result.skipped.extend(other.skipped)
        result.tasks.sort(key=lambda t: (t.subject, t.session or ""))
        if reports:
            from ._reports import write_reports

            subjects = sorted({t.subject for t in result.tasks})
            result.reports = write_reports(self.config, out, subjects, command, progress=progress)
        result.seconds = time.perf_counter() - t0
        return result

    def _run_phases(self, study, out, tasks, bar, result, client, jobs, progress, t0) -> None:
        """The recordings' tasks, then the twins, on one backend."""
        try:
            if client is not None:
                results = _backends.run_dask(tasks, client=client)
            elif jobs > 1:
                results = _backends.run_pool(tasks, jobs)
            else:
                results = _backends.run_serial(tasks, bar)
            for res in results:
                label = f"sub-{res.subject}" + (f" ses-{res.session}" if res.session else "")
                detail = f"{res.executed} steps run, {res.seconds:.1f} s"
                bar.finish(
                    label,
                    res.status if res.status == "failed" or res.executed else "up to date",
                    "; ".join(res.errors) or detail,
                )
                result.tasks.append(res)
        finally:
            bar.close()
            result.tasks.sort(key=lambda t: (t.subject, t.session or ""))
            result.seconds = time.perf_counter() - t0
            if result.tasks:
                self._write_status(out, result)
        if self.config.twin is not None:
            from ._twins import run_twins

            subjects = sorted(
                {t.subject for t in result.tasks if t.status == "ok"}, key=lambda s: (len(s), s)
            )
            result.twins = run_twins(
                self.config, study, out, subjects, jobs=jobs, client=client, progress=progress
            )

    def group(self, out_dir: str | os.PathLike, *, command: str | None = None) -> list[Path]:
        """Write the study-level outputs (``OUT/group``) of earlier participant runs.

        Parameters
        ----------
        out_dir : path
            The derivatives folder of the participant level.

        Returns
        -------
        paths : list of pathlib.Path
            ``<pipeline>_desc-<desc>_summary.tsv`` (one row per recording:
            status, failure reason, what each step did),
            ``<pipeline>_desc-<desc>_morph.tsv`` (regional volumes of all
            subjects) and ``<pipeline>_desc-<desc>_features.tsv`` (every
            subject's and session's features), when the pipeline makes them,
            and the study report ``report.html``.
        """
        from ..report import study_report
        from ._group import write_group

        paths = write_group(self.config, Path(out_dir).resolve())
        paths.append(study_report(out_dir, self.config, command=command))
        return paths

    def _write_description(self, study: Study, out: Path) -> None:
        desc = out / "dataset_description.json"
        content = _dumps(_dataset_description(self.config, study, out))
        if not desc.is_file() or desc.read_text() != content:
            with atomic_files(out) as tmp:
                (tmp / desc.name).write_text(content)
                (tmp / ".bidsignore").write_text(".neurotwin/\nlogs/\ngroup/\ntwins/\n*.html\n")

    def _write_status(self, out: Path, result: RunResult) -> None:
        """Merge this run's per-recording status into ``logs/status_<pipeline>.tsv``.

        A recording this run left out (``skipped``) keeps the status an earlier run gave it: a run
        of another task does not undo the outputs of the resting one.
        """
        fname = Derivatives(out).status_log(self.config.pipeline.name)
        logs = fname.parent
        new = result.summary()
        if fname.is_file():
            old = pd.read_csv(fname, sep="\t", dtype=str, keep_default_na=False)
            earlier = set(old.loc[old["status"] != "skipped", "source"])
            new = new[(new["status"] != "skipped") | ~new["source"].isin(earlier)]
            old = old[~old["source"].isin(new["source"])]
            new = pd.concat([old, new.astype(str)], ignore_index=True)
        new = new.astype(str).sort_values(["subject", "session", "source"])
        with atomic_files(logs) as tmp:
            new.to_csv(tmp / fname.name, sep="\t", index=False)


def load(fname: str | os.PathLike) -> Pipeline:
    """Load and validate a pipeline definition (a file or a built-in name).

    Examples
    --------
    >>> import neurotwin.pipeline as ntp
    >>> ntp.load("mri_structural")
    <Pipeline mri_structural (mri) | reorient, regional_volumes, features>
    """
    return Pipeline(load_config(fname))
