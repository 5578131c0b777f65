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

With ``[twin] population = "study"``, a subject's BOLD twin is first
fitted with the study's population prior on FC
(:class:`~neurotwin.twin.PopulationPrior`), estimated from the BOLD
features of the study's *other* subjects in the output folder (leave
one out; at least 3 people, otherwise the session's FC alone, logged).
The twin keeps the prior it was fitted with: later subjects do not
change the twins already stored (``neurotwin twin fit`` refits one with
today's study).
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
from ..io.bids import Study
from ..io.connectome import read_connectome
from ..io.derivatives import STORE_NAME, Derivatives
from ..io.sessions import order_sessions, session_days
from ..model.anatomy import Anatomy
from ..model.connectome import template_connectome
from ..twin import ConcurrentUpdate, Twin, TwinStore, update_twin
from ._backends import lost_reason, run_calls
from ._progress import Progress
from ._sources import _features, _own_connectome, _plan, _read, _Skip, choose_recordings

__all__ = ["STORE_NAME", "run_twins", "twin_task", "choose_recordings", "refit_twin"]


def _connectome(settings, study: Study, subject: str, modality: str):
    if settings.connectome in ("tvb76", "tvb68"):
        return template_connectome(settings.connectome)
    own = _own_connectome(study, subject)
    if own is not None:
        return read_connectome(own)
    folder = study.root / "derivatives" / "connectomes" / f"sub-{subject}"
    if settings.connectome == "subject" or "bold" in modality:
        raise ConfigError(f"sub-{subject}: no connectome in {folder} (the twin needs the subject's own).")
    try:
        return template_connectome("tvb76")
    except ConfigError as err:
        raise _Skip(f"no connectome: none in {folder}, and {err}") from None


def _anatomy(settings, study: Study, subject: str, modality: str) -> dict | None:
    """The subject's own head (``Anatomy.to_dict()``) for an EEG or MEG twin, or None (the template's).

    The FreeSurfer folder ``<study>/derivatives/freesurfer/sub-<label>/`` (or MNE-BIDS-Pipeline's
    ``.../freesurfer/subjects/sub-<label>/``) and one head-to-MRI
    transform (``*trans.fif``) in it (or its ``bem/``), else in the subject's raw folders.
    """
    if settings.anatomy == "template" or not {"eeg", "meg"} & set(modality.split("+")):
        return None
    fs = study.root / "derivatives" / "freesurfer"
    # MNE-BIDS-Pipeline keeps its FreeSurfer subjects in derivatives/freesurfer/subjects/
    root = next((r for r in (fs / "subjects", fs) if (r / f"sub-{subject}").is_dir()), fs)
    folder = root / f"sub-{subject}"
    if not (folder / "bem").is_dir():
        if settings.anatomy == "subject":
            raise ConfigError(
                f"sub-{subject}: no FreeSurfer folder with bem/ surfaces in {folder} ([twin] anatomy = "
                f"'subject' needs the subject's own head; 'auto' falls back to the template)."
            )
        return None
    found = sorted(set(folder.glob("*trans.fif")) | set(folder.glob("bem/*trans.fif")))
    if not found:
        found = sorted((study.root / f"sub-{subject}").rglob("*trans.fif"))
    if len(found) != 1:
        what = "no head-to-MRI transform (*trans.fif)" if not found else f"{len(found)} transforms {found}"
        msg = (
            f"sub-{subject}: the study has the subject's MRI ({folder}) but {what} in it or in the "
            f"subject's raw folders; keep one (made with 'mne coreg')"
        )
        if settings.anatomy == "subject":
            raise ConfigError(msg + ".")
        logger.warning("%s; the twin takes the template head.", msg)
        return None
    return Anatomy(str(root), f"sub-{subject}", trans=str(found[0])).to_dict()


def _new_twin(
    settings, modality, connectome, subject: str, population: dict | None = None, anatomy: dict | None = None
) -> Twin:  # (partial-friendly argument order)
    # the [twin] likelihood is the pipeline's modality's; a joint twin keeps its own
    likelihood = settings.likelihood if modality == settings.modality else None
    return Twin(
        subject,
        modality=modality,
        connectome=connectome,
        effective_connectivity=settings.effective_connectivity,
        process_noise=settings.process_noise,
        restarts=settings.restarts,
        likelihood=likelihood,
        population=population if "bold" in modality else None,
        anatomy=anatomy,
    )


def study_populations(config, study: Study, out: Path, subjects: list[str]) -> dict[str, dict | None]:
    """Each subject's population prior on BOLD FC from the other subjects' BOLD features.

    What ``[twin] population = "study"`` gives a new BOLD twin.

    Every session of every study subject whose BOLD features are in
    ``out`` (those a twin would read) and of the subject's regions enters,
    except the subject's own. Fewer than 3 such people give None: the
    session's FC alone, with a log line.

    Returns
    -------
    populations : dict
        ``{subject: PopulationPrior.to_dict() or None}`` for ``subjects``.
    """
    from ..twin.objectives.bold_fc import session_fc
    from ..twin.population import MIN_PEOPLE, PopulationPrior

    if config.twin is None or config.twin.population != "study":
        return {}
    sessions, regions = {}, {}
    for other in study.subjects():
        try:
            found = _features(out, other, config)[0].get("bold", {})
            if found:
                sessions[other] = [read_featureset(path) for path in found.values()]
                regions[other] = session_fc(sessions[other][0])[0]
        except NeurotwinError as err:  # one subject's outputs never stop the others'
            sessions.pop(other, None)
            logger.info("sub-%s: left out of the study's population prior: %s", other, err)
    out_ = {}
    for subject in subjects:
        own = regions.get(subject)
        others = {k: v for k, v in sessions.items() if k != subject and regions[k] == own}
        if own is None or len(others) < MIN_PEOPLE:
            logger.info(
                "sub-%s: no population prior (BOLD features of %d other people with its regions; "
                "it needs %d): the session's FC alone",
                subject,
                len(others),
                MIN_PEOPLE,
            )
            out_[subject] = None
            continue
        try:
            out_[subject] = PopulationPrior.from_features(others).to_dict()
        except NeurotwinError as err:
            logger.warning("sub-%s: no population prior: %s", subject, err)
            out_[subject] = None
    return out_


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


def _modalities_of(state, modality: str) -> list[str]:
    """The modalities a state was made of (a joint twin's summary says, else its own; "mri": volumes)."""
    kept = ["mri"] if state.features.get("volumes") else []
    return list(state.features.get("modalities") or [modality]) + kept


def _sync_twin(
    store: TwinStore,
    subject: str,
    settings,
    study: Study,
    feats: dict,
    days: dict,
    modality: str,
    retries: int = 3,
    refit: bool = False,
    population: dict | None = None,
) -> tuple[Twin, int]:
    """Bring the stored twin to the sessions found, in time order; returns it and how many states were fitted.

    ``feats`` is ``{session: {modality: features file}}``.
    Sessions the store has, in the same place, on the same day and of the
    same modalities, are kept; new ones after them are appended one by one
    (each saved). A new session that belongs *before* a stored one (another
    run got there first, or a time was corrected), or a stored one that
    now has another modality's features too, is refitted with the states
    after it, replaced in one transaction. A twin of another modality
    (BOLD arrived for a subject with an EEG twin), or ``refit``, is refitted
    from its first session, and replaces the stored one.
    """

    def label(ses: str) -> str:
        return ses or "01"  # a session-less recording is stored as session "01"

    order = order_sessions(days)
    for attempt in range(retries + 1):
        twin = store.load(subject, study=False) if store.exists(subject) else None
        stored = twin.states_ if twin is not None else []
        k = 0
        if twin is not None and (refit or twin.modality != modality):  # a new twin, from the first
            logger.info(
                "sub-%s: refitting the twin from its first session (%s)",
                subject,
                "asked" if refit else f"it was {twin.modality}, the sessions now give {modality}",
            )
            twin = _new_twin(
                settings,
                modality,
                _connectome(settings, study, subject, modality),
                subject,
                population,
                _anatomy(settings, study, subject, modality),
            )
        else:
            while (
                k < len(stored)
                and k < len(order)
                and stored[k].session == label(order[k])
                and abs(stored[k].at - days[order[k]]) < 1e-6
                and sorted(_modalities_of(stored[k], twin.modality)) == sorted(feats[order[k]])
            ):
                k += 1
            if k == len(stored):  # in order: append what is new, saving each
                # a new twin: its connectome (the store keeps it for later updates)
                factory = (
                    None
                    if stored
                    else partial(
                        _new_twin,
                        settings,
                        modality,
                        _connectome(settings, study, subject, modality),
                        population=population,
                        anatomy=_anatomy(settings, study, subject, modality),
                    )
                )
                for ses in order[k:]:
                    twin = update_twin(
                        store,
                        subject,
                        _read(feats[ses]),
                        at=days[ses],
                        session=label(ses),
                        twin_factory=factory,
                    )
                return twin, len(order) - k
            logger.info(
                "sub-%s: session %s belongs before the stored state %s, or has other modalities; "
                "refitting from there",
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
        twin.refit_from(k, [(_read(feats[s]), label(s), days[s]) for s in order[k:]])
        try:
            store.save(twin, known=len(stored), replace_from=k)
            return twin, len(order) - k
        except ConcurrentUpdate:
            if attempt == retries:
                raise
    raise StoreError("unreachable")  # pragma: no cover


def study_variability(store: TwinStore, modality: str, twins: list | None = None) -> dict | None:
    """Estimate the study's between-session SDs from the store's twins of a modality and keep them there.

    Returns the estimate over every twin (``Variability.to_dict()``; None
    when no twin has two sessions); each twin loaded from the store then
    uses the others' (:meth:`TwinStore.study_variability`).
    """
    from ..twin.longitudinal import population_sums
    from ..twin.variability import add_sums, from_sums

    twins = store.twins(study=False) if twins is None else twins
    # one twin at a time (a generator): a study's twins are never all held in memory
    sums = population_sums(t for t in twins if t.modality == modality)
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
    columns = ["subject", "modality", "sessions", "added", "status", "alerts", "seconds", "error", "notes"]
    try:
        store = TwinStore(Derivatives(out).store)
    except NeurotwinError as err:  # the recordings' outputs stand; every twin failed, and says why
        logger.error("twins: %s", err)
        table = pd.DataFrame(
            [
                {
                    "subject": s,
                    "modality": "",
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
    populations = study_populations(config, study, out, subjects)
    calls = [
        (config, study, out, subject, logger.getEffectiveLevel(), False, populations.get(subject))
        for subject in subjects
    ]
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
    try:  # per modality: a joint twin's between-session SDs are estimated from the joint twins
        for modality in store.modalities():
            study_variability(store, modality)
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
        "modality": "",
        "sessions": "",
        "added": 0,
        "status": "ok",
        "alerts": "",
        "seconds": 0.0,
        "error": "",
        "notes": "",
    }


def twin_task(
    config,
    study: Study,
    out: Path,
    subject: str,
    log_level: int | str = "WARNING",
    refit: bool = False,
    population: dict | None = None,
) -> dict:
    """Fit or update one subject's twin from its feature outputs (a worker's task); never raises for bad data.

    BLAS is limited to one thread, as for the recordings' tasks, so the
    twins are the same whichever backend runs them.

    ``refit`` fits the twin again from its first session (``neurotwin twin fit``).
    ``population``: the prior of a new BOLD twin (:func:`study_populations`).

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
            found, left_out = _features(out, subject, config)
            feats = found.get(settings.modality, {})  # (for the feature alerts of a skipped twin)
            modality, sessions, days, why = _plan(study, subject, found, settings)
            row["notes"] = "; ".join(left_out + why)
            if not sessions:
                raise ConfigError(f"sub-{subject}: no features to fit a twin to (did the recordings fail?).")
            twin, row["added"] = _sync_twin(
                store, subject, settings, study, sessions, days, modality, refit=refit, population=population
            )
            row["sessions"] = ",".join(s.session for s in twin.states_)
            row["modality"] = twin.modality
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


def refit_twin(
    out_dir, subject: str, *, study=None, pipeline=None, verbose: bool | str | int | None = None
) -> dict:
    """Fit a subject's twin again from its first session, from what the derivatives folder holds.

    What ``neurotwin twin fit OUT SUBJECT`` runs: the pipeline (and the
    pipelines its ``[twin]`` reads) and the raw study are those the
    derivatives were made with (``OUT/dataset_description.json``: its
    pipeline definition and ``DatasetLinks.raw``) unless given. Every
    modality whose features are there is used; the stored twin is replaced
    in one transaction only once the new one is fitted.

    Parameters
    ----------
    out_dir : path
        The derivatives folder of a participant run.
    subject : str
        Subject label (without ``sub-``).
    study : Study | path | None
        The raw study (for the sessions' acquisition times).
    pipeline : str | path | None
        A pipeline definition with a ``[twin]`` table instead of the recorded one.
    verbose : bool | str | int | None
        Log level.

    Returns
    -------
    row : dict
        The subject's row of the twins table (``status``, ``modality``,
        ``sessions``, ``added``, ``error``, ``notes``, ``seconds``).

    Examples
    --------
    >>> import tempfile
    >>> from neurotwin.pipeline._twins import refit_twin
    >>> refit_twin(tempfile.mkdtemp(), "01")
    Traceback (most recent call last):
    ...
    neurotwin.errors.MissingFileError: ...dataset_description.json: not a derivatives folder ...
    """
    import json

    from ..errors import MissingFileError
    from ..io import discover_study
    from .config import PipelineConfig, load_config

    out = Path(out_dir).resolve()
    desc_path = out / "dataset_description.json"
    if not desc_path.is_file():
        raise MissingFileError(
            f"{desc_path}: not a derivatives folder of 'neurotwin run' (no description); run "
            f"'neurotwin run STUDY OUT participant' first."
        )
    try:
        desc = json.loads(desc_path.read_text())
        recorded = desc["neurotwin"]["Pipeline"]
        raw = desc.get("DatasetLinks", {}).get("raw")
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{desc_path}: not written by 'neurotwin run' ({err}); pass --pipeline.") from None
    config = load_config(pipeline) if pipeline is not None else PipelineConfig.model_validate(recorded)
    if config.twin is None:
        raise ConfigError(
            f"pipeline {config.pipeline.name} has no [twin] table; pass --pipeline with one "
            f"(e.g. resting_eeg)."
        )
    if study is None:
        if raw is None:
            raise ConfigError(f"{desc_path}: no link to the raw study; pass --study.")
        study = (out / raw).resolve()
    if not isinstance(study, Study):
        study = discover_study(study)
    with use_log_level(verbose):
        population = study_populations(config, study, out, [subject]).get(subject)
        row = twin_task(config, study, out, subject, logger.getEffectiveLevel(), True, population)
    row.pop("_identifiability", None)
    return row
