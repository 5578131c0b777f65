"""The subject-level stage after the recordings: fit and update each subject's twin, in session order.

Sessions are ordered, and spaced, by the acquisition times in the BIDS
``scans.tsv`` files (ISO 8601, as BIDS says; anything else is an error
naming the file and row; de-identified dates keep one person's
intervals); only day offsets from the first session reach the twin.
Sessions recorded the same day are ordered by label with a 0-day gap;
without acquisition times for every session, all are taken in label
order with 0-day gaps (a warning). The twin takes one recording a
session: its task (default: the resting task) and the first run, by the
rule of :func:`choose_recordings`; what it leaves out is logged and kept
in the twins table's ``notes``. Sessions already in the store are
skipped, so reruns are cheap and give the same twins; a session that
belongs before a stored one is inserted in its place and the later
states refitted (:func:`_sync_twin`). One subject's failure never stops
the others. With ``connectome = "auto"`` and neither the subject's
connectome nor the ``tvb`` extra, the twin is skipped (status
``skipped``, with the reason), not failed: the recordings' outputs stand
on their own.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import pandas as pd

from .._files import atomic_files
from .._logging import logger, use_log_level
from ..errors import ConfigError, NeurotwinError, NoPositionsError, StoreError
from ..features.featureset import read_featureset
from ..io.bids import Study, name_entities, natural_key
from ..io.connectome import read_connectome
from ..io.derivatives import STORE_NAME, Derivatives
from ..io.sessions import order_sessions, session_days
from ..model.connectome import template_connectome
from ..twin import ConcurrentUpdate, Twin, TwinStore, update_twin
from ._backends import lost_reason, run_calls
from ._progress import Progress

__all__ = ["STORE_NAME", "run_twins", "twin_task", "choose_recordings"]


def _connectome(settings, study: Study, subject: str):
    if settings.connectome in ("tvb76", "tvb68"):
        return template_connectome(settings.connectome)
    own = study.root / "derivatives" / "connectomes" / f"sub-{subject}"
    files = sorted(p for p in own.glob("*") if p.is_file()) if own.is_dir() else []
    if files:
        return read_connectome(files[0])
    if settings.connectome == "subject" or settings.modality == "bold":
        raise ConfigError(f"sub-{subject}: no connectome in {own} (the twin needs the subject's own).")
    try:
        return template_connectome("tvb76")
    except ConfigError as err:
        raise _Skip(f"no connectome: none in {own}, and {err}") from None


class _Skip(NeurotwinError):
    """The twin cannot be made as configured (no connectome in "auto" mode, an ambiguous session):
    skipped with the reason, not failed."""


def _is_rest(task: str | None) -> bool:
    return task is not None and "rest" in task.lower()


def choose_recordings(
    paths: list[Path], task: str | None = None, run: str | None = None
) -> tuple[dict[str, Path], list[str]]:
    """One recording a session for a twin, by a stated rule; and why the others were left out.

    The rule: the recordings of ``task`` (default: the resting task, any
    task whose label contains ``rest``, preferring ``rest`` itself; when no
    recording has a resting task and all have one task, that one); then
    ``run`` (default: each session's first run in natural order, so ``2``
    before ``10``); then, if a session still has several (other entities
    such as ``acq-``), the first by name.

    Parameters
    ----------
    paths : list of Path
        The subject's feature files (BIDS names).
    task, run : str | None
        The ``[twin]`` table's choices.

    Returns
    -------
    chosen : dict
        ``{session label: path}``.
    skipped : list of str
        One sentence a recording left out, naming it and why.

    Raises
    ------
    ConfigError
        If no ``task`` is set and the recordings have several tasks of
        which none is a resting one (the twin cannot guess).

    Examples
    --------
    >>> from pathlib import Path
    >>> files = [Path("sub-01_ses-01_task-rest_run-2_desc-x_features.tsv"),
    ...          Path("sub-01_ses-01_task-rest_run-1_desc-x_features.tsv"),
    ...          Path("sub-01_ses-01_task-arithmetic_desc-x_features.tsv")]
    >>> chosen, skipped = choose_recordings(files)
    >>> chosen["01"].name
    'sub-01_ses-01_task-rest_run-1_desc-x_features.tsv'
    >>> len(skipped)
    2
    """
    info = [(p, name_entities(p.name)) for p in paths]
    skipped = []
    tasks = sorted({e.get("task") for _, e in info if e.get("task")})
    if task is None and tasks:
        rest = [t for t in tasks if _is_rest(t)]
        if rest:
            task = "rest" if "rest" in rest else rest[0]
        elif len(tasks) == 1:
            task = tasks[0]
        else:
            raise ConfigError(
                f"the recordings have tasks {tasks}, none of them a resting one; "
                "choose the twin's with task = ... in the pipeline's [twin]"
            )
    if task is not None:
        for p, e in info:
            if e.get("task") != task:
                skipped.append(f"{p.name}: task {e.get('task') or '(none)'!r}, the twin uses task {task!r}")
        info = [(p, e) for p, e in info if e.get("task") == task]
    by_session: dict[str, list] = {}
    for p, e in info:
        by_session.setdefault(e.get("ses", ""), []).append((p, e))
    chosen = {}
    for ses, items in by_session.items():
        if run is not None:
            for p, e in items:
                if e.get("run") != run:
                    skipped.append(f"{p.name}: run {e.get('run') or '(none)'!r}, the twin uses run {run!r}")
            items = [(p, e) for p, e in items if e.get("run") == run]
            if not items:
                continue
        items = sorted(items, key=lambda pe: (natural_key(pe[1].get("run", "")), pe[0].name))
        chosen[ses] = items[0][0]
        for p, _ in items[1:]:
            skipped.append(
                f"{p.name}: session {ses or '-'} has several recordings; the twin takes the "
                f"first ({items[0][0].name}; set run = ... in [twin] to choose)"
            )
    return chosen, skipped


def _features(out: Path, subject: str, desc: str, settings) -> tuple[dict[str, Path], list[str]]:
    paths = sorted((out / f"sub-{subject}").rglob(f"sub-{subject}*_desc-{desc}_features.tsv"))
    try:
        chosen, skipped = choose_recordings(paths, settings.task, settings.run)
    except ConfigError as err:
        raise _Skip(str(err)) from None
    for note in skipped:
        logger.info("sub-%s: twin leaves out %s", subject, note)
    return chosen, skipped


def _new_twin(settings, connectome, subject: str) -> Twin:  # (partial-friendly argument order)
    return Twin(
        subject,
        modality=settings.modality,
        connectome=connectome,
        effective_connectivity=settings.effective_connectivity,
        process_noise=settings.process_noise,
        restarts=settings.restarts,
    )


def _alert_text(flagged: pd.DataFrame) -> str:
    """One line of a subject's alerts: per session, each flagged measure once, with where.

    A measure flagged at more than three channels is counted, not listed; ``+ mean`` says that the
    mean spectrum's value is flagged too (a line of 40 ``session measure/channel`` items was
    unreadable in the run's summary).

    Examples
    --------
    >>> import pandas as pd
    >>> from neurotwin.pipeline._twins import _alert_text
    >>> rows = [("03", "f", "global", ""), ("03", "iaf", "global", "")]
    >>> rows += [("03", "iaf", ch, "") for ch in ("O1", "O2", "Pz", "P3")]
    >>> rows += [("03", "band_power_rel", "O1", "alpha")]
    >>> _alert_text(pd.DataFrame(rows, columns=["session", "name", "location", "band"]))
    'ses-03 f, iaf (4 channels + mean), band_power_rel[alpha] (O1)'
    """
    parts = []
    for session, rows in flagged.groupby("session", sort=False):
        where: dict[str, list[str]] = {}
        for _, r in rows.iterrows():
            key = r["name"] + (f"[{r.band}]" if r.band else "")
            where.setdefault(key, []).append(r.location if r.location and r.location != "global" else "")
        items = []
        for key, locations in where.items():
            chans = [c for c in locations if c]
            if not chans:
                items.append(key)
                continue
            shown = ", ".join(chans) if len(chans) <= 3 else f"{len(chans)} channels"
            items.append(f"{key} ({shown}{' + mean' if len(chans) < len(locations) else ''})")
        parts.append(f"ses-{session} " + ", ".join(items))
    return "; ".join(parts)


def _feature_alerts(study, subject: str, feats: dict) -> str:
    """Alerts of a subject without a twin: change detection on its features alone."""
    from ..twin.longitudinal import feature_changes

    if len(feats) < 2:
        return ""
    try:
        days = session_days(study, subject, sorted(feats))
        order = order_sessions(days)
        table = feature_changes([read_featureset(feats[s]) for s in order], at=[days[s] for s in order])
    except NeurotwinError as err:
        logger.warning("sub-%s: no feature change detection: %s", subject, err)
        return ""
    return _alert_text(table.query("flagged"))


def _sync_twin(
    store: TwinStore, subject: str, settings, study: Study, feats: dict, days: dict, retries: int = 3
) -> tuple[Twin, int]:
    """Bring the stored twin to the sessions found, in time order; returns it and how many states were fitted.

    Sessions the store has, in the same place and on the same day, are
    kept; new ones after them are appended one by one (each saved). A new
    session that belongs *before* a stored one (another run got there
    first, or a time was corrected) is inserted, and the states from its
    place on are refitted on top of it, replaced in one transaction.
    """

    def label(ses: str) -> str:
        return ses or "01"  # a session-less recording is stored as session "01"

    order = order_sessions(days)
    for attempt in range(retries + 1):
        twin = store.load(subject) if store.exists(subject) else None
        stored = twin.states_ if twin is not None else []
        k = 0
        while (
            k < len(stored)
            and k < len(order)
            and stored[k].session == label(order[k])
            and abs(stored[k].at - days[order[k]]) < 1e-6
        ):
            k += 1
        if k == len(stored):  # in order: append what is new, saving each
            # a new twin: its connectome (the store keeps it for later updates)
            factory = None if stored else partial(_new_twin, settings, _connectome(settings, study, subject))
            for ses in order[k:]:
                twin = update_twin(
                    store,
                    subject,
                    read_featureset(feats[ses]),
                    at=days[ses],
                    session=label(ses),
                    twin_factory=factory,
                )
            return twin, len(order) - k
        logger.info(
            "sub-%s: session %s belongs before the stored state %s; refitting from there",
            subject,
            order[k] if k < len(order) else "-",
            stored[k].session,
        )
        missing = [s.session for s in stored if s.session not in {label(x) for x in order}]
        if missing:
            raise ConfigError(
                f"sub-{subject}: the twin holds session(s) {missing} whose features are not in "
                f"the outputs any more, so they cannot be refitted in time order. Restore "
                f"their outputs, or remove the twin to refit it."
            )
        known = len(stored)
        twin.refit_from(k, [(read_featureset(feats[s]), label(s), days[s]) for s in order[k:]])
        try:
            store.save(twin, known=known, replace_from=k)
            return twin, len(order) - k
        except ConcurrentUpdate:
            if attempt == retries:
                raise
    raise StoreError("unreachable")  # pragma: no cover


def study_variability(store: TwinStore, modality: str) -> dict | None:
    """Estimate the study's between-session SDs from the store's twins of a modality and keep them there.

    Returns the estimate over every twin (``Variability.to_dict()``; None
    when no twin has two sessions); each twin loaded from the store then
    uses the others' (:meth:`TwinStore.study_variability`).
    """
    from ..twin.longitudinal import population_sums
    from ..twin.variability import add_sums, from_sums

    sums = population_sums([t for t in store.twins() if t.modality == modality])
    if not sums:
        return None
    store.set_study_variability(modality, sums)
    return from_sums(add_sums(sums.values()), source=f"study, {len(sums)} subjects").to_dict()


def run_twins(
    config,
    study: Study,
    out: Path,
    subjects: list[str],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    client=None,
    progress: str = "off",
) -> pd.DataFrame:
    """Fit or update the twins of ``subjects`` from their feature outputs; one row a subject.

    One task a subject (:func:`twin_task`), on the recordings' backends:
    this process, ``jobs`` processes, or Dask (``scheduler``,
    ``dask_workers``, or a connected ``client``); each subject's twin is reported as it finishes
    (``progress``: a bar with its ETA on a terminal, a line each
    otherwise). The study's between-session SDs and every subject's
    alerts follow, here, once all twins are done.

    Returns
    -------
    table : pandas.DataFrame
        ``subject, sessions, added, status, alerts, seconds, error, notes`` (the
        recordings the twin left out, and why); also written to
        ``logs/twins_<pipeline>.tsv``.
    """
    settings = config.twin
    columns = ["subject", "sessions", "added", "status", "alerts", "seconds", "error", "notes"]
    try:
        store = TwinStore(Derivatives(out).store)
    except NeurotwinError as err:  # the recordings' outputs stand; every twin failed, and says why
        logger.error("twins: %s", err)
        table = pd.DataFrame(
            [
                {
                    "subject": s,
                    "sessions": "",
                    "added": 0,
                    "status": "failed",
                    "alerts": "",
                    "seconds": 0.0,
                    "error": str(err),
                    "notes": "",
                }
                for s in subjects
            ],
            columns=columns,
        )
        _write_table(table, out, config)
        return table
    bar = Progress(len(subjects), 0, mode=progress, desc="twins")
    calls = [(config, study, out, subject, logger.getEffectiveLevel()) for subject in subjects]
    rows: list[dict | None] = [None] * len(subjects)
    try:
        for i, row in run_calls(
            twin_task,
            calls,
            jobs=jobs,
            scheduler=scheduler,
            dask_workers=dask_workers,
            name="twin",
            client=client,
        ):
            if isinstance(row, BaseException):  # the worker died (killed, out of memory)
                row = {**_row(subjects[i]), "status": "failed", "error": f"twin {lost_reason(row)}"}
            rows[i] = row
            detail = (
                row["error"]
                if row["status"] != "ok"
                else (f"sessions {row['sessions']}, {row['added']} fitted, {row['seconds']:.1f} s")
            )
            bar.finish(f"twin sub-{row['subject']}", row["status"], detail)
    finally:
        bar.close()
    counts = [r.pop("_identifiability") for r in rows if r is not None and "_identifiability" in r]
    weak = sum(c[1] for c in counts)
    if weak:  # one line for the study, not one a session (each state keeps its own list)
        logger.warning(
            "twins: %d of %d fitted sessions have parameters their data barely determine "
            "(weakly identified, or only a combination determined): the reports' twin tables "
            "list them per session (TwinState.diagnostics['warnings'] in Python).",
            weak,
            sum(c[0] for c in counts),
        )
    # the study's between-session SDs from every twin, then each subject's alerts against the others'
    try:
        study_variability(store, settings.modality)
    except NeurotwinError as err:  # the alerts then use the built-in between-session SDs
        logger.warning("twins: no study estimate of the between-session SDs: %s", err)
    for row in rows:
        if row["status"] == "ok":
            try:
                row["alerts"] = _alert_text(store.load(row["subject"]).changes().query("flagged"))
            except NeurotwinError as err:  # one subject's store entry never stops the others
                row.update(status="failed", error=f"change detection: {err}")
                logger.warning("sub-%s: no change detection: %s", row["subject"], err)
    table = pd.DataFrame(rows, columns=columns)
    _write_table(table, out, config)
    return table


def _row(subject: str) -> dict:
    return {
        "subject": subject,
        "sessions": "",
        "added": 0,
        "status": "ok",
        "alerts": "",
        "seconds": 0.0,
        "error": "",
        "notes": "",
    }


def twin_task(config, study: Study, out: Path, subject: str, log_level: int | str = "WARNING") -> dict:
    """Fit or update one subject's twin from its feature outputs (a worker's task); never raises for bad data.

    BLAS is limited to one thread, as for the recordings' tasks, so the
    twins are the same whichever backend runs them.

    Returns
    -------
    row : dict
        The subject's row of the twins table (without alerts: those need
        every twin, and are added after the twin phase).
    """
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    row = _row(subject)
    settings = config.twin
    feats = {}
    with use_log_level(log_level), threadpool_limits(limits=1):
        try:
            store = TwinStore(Derivatives(out).store)
            feats, left_out = _features(out, subject, config.pipeline.desc, settings)
            row["notes"] = "; ".join(left_out)
            if not feats:
                raise ConfigError(f"sub-{subject}: no features to fit a twin to (did the recordings fail?).")
            days = session_days(study, subject, sorted(feats))
            twin, row["added"] = _sync_twin(store, subject, settings, study, feats, days)
            row["sessions"] = ",".join(s.session for s in twin.states_)
            row["_identifiability"] = [
                len(twin.states_),
                sum(bool(s.diagnostics.get("warnings")) for s in twin.states_),
            ]
        except (_Skip, NoPositionsError) as err:  # the twin cannot be made for this subject's data
            row.update(status="skipped", error=str(err))
            logger.warning("sub-%s: twin skipped: %s", subject, err)
            row["alerts"] = _feature_alerts(study, subject, feats)
        except NeurotwinError as err:
            row.update(status="failed", error=str(err))
            logger.warning("sub-%s: twin failed: %s", subject, err)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _write_table(table: pd.DataFrame, out: Path, config) -> None:
    path = Derivatives(out).twins_log(config.pipeline.name)
    with atomic_files(path.parent) as tmp:
        table.drop(columns="seconds").to_csv(tmp / path.name, sep="\t", index=False)
