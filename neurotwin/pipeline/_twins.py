"""The subject-level stage after the recordings: fit and update each subject's twin, in session order.

Sessions are ordered, and spaced, by the acquisition times in the BIDS
``scans.tsv`` files (de-identified dates keep one person's intervals);
only day offsets from the first session reach the twin. Without
acquisition times the sessions are taken in label order, one day apart
(logged). Sessions already in the store are skipped, so reruns are cheap
and give the same twins; a session older than the twin's last is refused
for that subject. One subject's failure never stops the others. With
``connectome = "auto"`` and neither the subject's connectome nor the
``tvb`` extra, the twin is skipped (status ``skipped``, with the reason),
not failed: the recordings' outputs stand on their own.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import pandas as pd

from .._logging import logger
from ..errors import ConfigError, NeurotwinError, NoPositionsError
from ..features.featureset import read_featureset
from ..io.bids import Study
from ..io.connectome import read_connectome
from ..model.connectome import template_connectome
from ..twin import Twin, TwinStore, update_twin
from ._cache import atomic_files

__all__ = ["STORE_NAME", "run_twins", "session_days"]

#: the twin database, relative to the derivatives folder
STORE_NAME = Path("twins") / "twins.sqlite"


def session_days(study: Study | Path, subject: str, sessions: list[str]) -> dict[str, float]:
    """Days since the subject's first session, from ``scans.tsv`` acquisition times.

    ``study`` is a :class:`Study` or its root folder (only the ``scans.tsv`` files are read).

    Examples
    --------
    >>> from neurotwin.datasets import sample_data_path
    >>> from neurotwin.io import discover_study
    >>> session_days(discover_study(sample_data_path()), "02", ["01", "02", "03"])
    {'01': 0.0, '02': 90.0, '03': 180.0}
    """
    root = Path(getattr(study, "root", study))
    times = {}
    for ses in sessions:
        folder = root / f"sub-{subject}" / (f"ses-{ses}" if ses else "")
        scans = folder / f"sub-{subject}{f'_ses-{ses}' if ses else ''}_scans.tsv"
        if scans.is_file():
            table = pd.read_csv(scans, sep="\t", dtype=str)
            if "acq_time" in table and table["acq_time"].notna().any():
                stamp = pd.to_datetime(table["acq_time"].dropna(), utc=True, errors="coerce").dropna()
                if len(stamp):
                    times[ses] = stamp.min()
    if len(times) == len(sessions) and times:
        first = min(times.values())
        return {s: round((t - first).total_seconds() / 86400.0, 4) for s, t in times.items()}
    logger.info("sub-%s: no acquisition times for every session; sessions taken in label order, "
                "a day apart", subject)
    return {s: float(i) for i, s in enumerate(sessions)}


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


def _features(out: Path, subject: str, desc: str, settings) -> dict[str, Path]:
    found = {}
    for path in sorted((out / f"sub-{subject}").rglob(f"sub-{subject}*_desc-{desc}_features.tsv")):
        entities = dict(part.split("-", 1) for part in path.name.split("_") if "-" in part)
        if any(getattr(settings, key) not in (None, entities.get(key)) for key in ("task", "run")):
            continue
        ses = entities.get("ses", "")
        if ses in found:
            raise _Skip(f"two recordings in session {ses or '-'} ({found[ses].name}, {path.name}); the twin "
                        f"takes one a session: choose with task = ... / run = ... in the pipeline's [twin]")
        found[ses] = path
    return found


def _new_twin(settings, connectome, subject: str) -> Twin:
    return Twin(subject, modality=settings.modality, connectome=connectome,
                effective_connectivity=settings.effective_connectivity, process_noise=settings.process_noise,
                restarts=settings.restarts)


def _alert_text(flagged: pd.DataFrame) -> str:
    return "; ".join(f"ses-{r.session} {r['name']}" + (
        f"/{r.location}" if r.location and r.location != "global" else "") + (
        f" ({r.band})" if r.band else "") for _, r in flagged.iterrows())


def _feature_alerts(study, subject: str, feats: dict) -> str:
    """Alerts of a subject without a twin: change detection on its features alone."""
    from ..twin.longitudinal import feature_changes

    if len(feats) < 2:
        return ""
    try:
        days = session_days(study, subject, sorted(feats))
        order = sorted(feats, key=lambda s: (days[s], s))
        table = feature_changes([read_featureset(feats[s]) for s in order], at=[days[s] for s in order])
    except NeurotwinError as err:
        logger.warning("sub-%s: no feature change detection: %s", subject, err)
        return ""
    return _alert_text(table.query("flagged"))


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


def run_twins(config, study: Study, out: Path, subjects: list[str]) -> pd.DataFrame:
    """Fit or update the twins of ``subjects`` from their feature outputs; one row a subject.

    Returns
    -------
    table : pandas.DataFrame
        ``subject, sessions, added, status, alerts, seconds, error``; also written to
        ``logs/twins_<pipeline>.tsv``.
    """
    settings = config.twin
    store = TwinStore(out / STORE_NAME)
    rows = []
    for subject in subjects:
        t0 = time.perf_counter()
        row = {"subject": subject, "sessions": "", "added": 0, "status": "ok", "alerts": "", "error": ""}
        feats = {}
        try:
            feats = _features(out, subject, config.pipeline.desc, settings)
            if not feats:
                raise ConfigError(f"sub-{subject}: no features to fit a twin to (did the recordings fail?).")
            days = session_days(study, subject, sorted(feats))
            order = sorted(feats, key=lambda s: (days[s], s))
            done = {s.session for s in store.load(subject).states_} if store.exists(subject) else set()
            factory = None
            if not done:  # a new twin: its connectome (the store keeps it for later updates)
                factory = partial(_new_twin, settings, _connectome(settings, study, subject))
            twin = None
            for ses in order:
                label = ses or "01"  # a session-less recording is stored as session "01"
                if label in done:
                    continue
                twin = update_twin(store, subject, read_featureset(feats[ses]), at=days[ses],
                                   session=label, twin_factory=factory)
                row["added"] += 1
            twin = twin or store.load(subject)
            row["sessions"] = ",".join(s.session for s in twin.states_)
        except (_Skip, NoPositionsError) as err:  # the twin cannot be made for this subject's data
            row.update(status="skipped", error=str(err))
            logger.warning("sub-%s: twin skipped: %s", subject, err)
            row["alerts"] = _feature_alerts(study, subject, feats)
        except NeurotwinError as err:
            row.update(status="failed", error=str(err))
            logger.warning("sub-%s: twin failed: %s", subject, err)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
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
    columns = ["subject", "sessions", "added", "status", "alerts", "seconds", "error"]
    table = pd.DataFrame(rows, columns=columns)
    with atomic_files(out / "logs") as tmp:
        table.drop(columns="seconds").to_csv(tmp / f"twins_{config.pipeline.name}.tsv", sep="\t", index=False)
    return table
