"""The participant run's last phase: each subject's report, with progress."""

from __future__ import annotations

import time
from pathlib import Path

from .._logging import logger
from ..io.derivatives import Derivatives
from ._progress import Progress


def write_reports(config, out: Path, subjects: list[str], command: str | None, progress: str = "off") -> dict:
    """Write each subject's report; a subject whose report fails is logged, the others go on.

    A page whose inputs did not change is left as it is
    (:func:`~neurotwin.report.subject_report`); one that changed takes
    seconds to draw, so each page is reported as it is done (``written``,
    ``up to date`` or ``failed``), as the recordings and twins are.

    Returns
    -------
    done : dict
        ``{subject: page path, or "failed: <reason>"}``.
    """
    from ..report import subject_report

    done = {}
    deriv = Derivatives(out)
    bar = Progress(len(subjects), 0, mode=progress, desc="reports")
    try:
        for subject in subjects:
            t0 = time.perf_counter()
            page = deriv.subject_page(subject)
            before = page.stat().st_mtime_ns if page.is_file() else None
            try:
                done[subject] = str(subject_report(out, subject, config, command=command))
                status = "up to date" if before == page.stat().st_mtime_ns else "written"
            except Exception as err:  # a report never stops the run or the other reports
                logger.warning("sub-%s: no report: %s: %s", subject, type(err).__name__, err)
                done[subject] = f"failed: {type(err).__name__}: {err}"
                status = "failed"
            bar.finish(f"report sub-{subject}", status, f"{time.perf_counter() - t0:.1f} s")
    finally:
        bar.close()
    return done
