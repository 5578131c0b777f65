"""When each session was recorded: ``scans.tsv`` acquisition times, as day offsets from the first.

Sessions are ordered, and spaced, by the acquisition times in the BIDS
``scans.tsv`` files (ISO 8601, as BIDS says; anything else is an error
naming the file and row; de-identified dates keep one person's
intervals); only day offsets from the first session leave this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .._logging import logger
from ..errors import DataError
from .bids import Study, natural_key, read_bids_tsv

__all__ = ["order_sessions", "session_days", "session_times"]


def _parse_acq_time(text: str, scans: Path, row: int) -> pd.Timestamp:
    """One ``acq_time`` as BIDS writes it (ISO 8601), or a DataError naming the file and row."""
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DataError(
            f"{scans}: row {row} has acq_time {text!r}, which is not an ISO 8601 date-time "
            "(BIDS: YYYY-MM-DDThh:mm:ss, e.g. 2000-04-09T13:05:00). Correct it, or write n/a "
            "when the time is unknown; a misread date would reorder or respace the sessions."
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return pd.Timestamp(stamp)


def session_times(study: Study | Path, subject: str, sessions: list[str]) -> dict[str, pd.Timestamp]:
    """Each session's earliest acquisition time from its ``scans.tsv`` (sessions without one left out).

    Raises
    ------
    DataError
        If a ``scans.tsv`` cannot be decoded or parsed, or one of its
        ``acq_time`` values is neither ISO 8601 nor ``n/a``: the message
        names the file and row.
    """
    root = study.root if isinstance(study, Study) else Path(study)  # (a Path's .root is "/")
    times = {}
    for ses in sessions:
        folder = root / f"sub-{subject}" / (f"ses-{ses}" if ses else "")
        scans = folder / f"sub-{subject}{f'_ses-{ses}' if ses else ''}_scans.tsv"
        if not scans.is_file():
            continue
        table = read_bids_tsv(scans)
        if "acq_time" not in table:
            continue
        stamps = [
            _parse_acq_time(text, scans, i + 2)
            for i, text in enumerate(table["acq_time"])
            if text.strip() and text.strip().lower() != "n/a"
        ]
        if stamps:
            times[ses] = min(stamps)
    return times


def session_days(study: Study | Path, subject: str, sessions: list[str]) -> dict[str, float]:
    """Days since the subject's first session, from ``scans.tsv`` acquisition times.

    ``study`` is a :class:`Study` or its root folder (only the ``scans.tsv``
    files are read). Sessions recorded at the same time get the same day.
    When a session has no acquisition time (no ``scans.tsv``, no
    ``acq_time`` column, or ``n/a``), the days cannot be known: every
    session gets day 0 (a 0-day gap; they are ordered by label), with a
    warning. A time that is not ISO 8601 is an error, never guessed.

    Examples
    --------
    >>> from neurotwin.datasets import sample_data_path
    >>> from neurotwin.io import discover_study
    >>> from neurotwin.io.sessions import session_days
    >>> session_days(discover_study(sample_data_path()), "02", ["01", "02", "03"])
    {'01': 0.0, '02': 90.0, '03': 180.0}
    """
    sessions = list(dict.fromkeys(sessions))  # (a session's recordings of several modalities: once)
    times = session_times(study, subject, sessions)
    if len(times) == len(sessions) and times:
        first = min(times.values())
        return {s: round((t - first).total_seconds() / 86400.0, 4) for s, t in times.items()}
    if len(sessions) > 1:
        missing = [s or "-" for s in sessions if s not in times]
        logger.warning(
            "sub-%s: session(s) %s have no acquisition time; the sessions are taken in label "
            "order with 0-day gaps (no trend over time)",
            subject,
            missing,
        )
    return {s: 0.0 for s in sessions}


def order_sessions(days: dict[str, float]) -> list[str]:
    """Sessions by day, then by label in natural order (``2`` before ``10``)."""
    return sorted(days, key=lambda s: (days[s], natural_key(s)))
