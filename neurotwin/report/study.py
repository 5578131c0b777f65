"""The study report (group level): every recording's status and failure reason, group distributions,
twin summaries and alerts, with the same provenance section as the patients' reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._logging import logger
from ..errors import DataError, NeurotwinError
from . import _figures as figs
from ._common import env, fmt, provenance, write

__all__ = ["study_report"]

FEATURES = (("iaf", "Hz"), ("aperiodic_exponent", "1"), ("spectral_edge", "Hz"))


def study_report(out_dir, config, *, command: str | None = None) -> Path:
    """Write ``OUT/group/report.html`` from a derivatives folder.

    Parameters
    ----------
    out_dir : path
        The derivatives folder of a participant run.
    config : PipelineConfig
        The pipeline that made it.
    command : str | None
        The command line, for the provenance section.

    Returns
    -------
    path : pathlib.Path
    """
    from ..features.featureset import read_featureset
    from ..pipeline._twins import STORE_NAME
    from ..twin import TwinStore

    out = Path(out_dir).resolve()
    status = out / "logs" / f"status_{config.pipeline.name}.tsv"
    if not status.is_file():
        raise DataError(f"{status}: missing; run the participant level first.")
    table = pd.read_csv(status, sep="\t", dtype=str, keep_default_na=False).sort_values(
        ["subject", "session", "source"]
    )
    recordings = []
    for _, r in table.iterrows():
        report = out / f"sub-{r['subject']}.html"
        recordings.append(
            {
                "subject": r["subject"],
                "session": r["session"] or "-",
                "source": Path(r["source"]).name,
                # "up to date" (a rerun found the outputs complete) reads as ok: a rerun gives the same page
                "status": "ok" if r["status"] in ("ok", "up to date") else r["status"],
                "error": r["error"].splitlines()[0] if r["error"] else "",
                "report": f"../{report.name}" if report.is_file() else "",
            }
        )
    rows = []
    for path in sorted(out.glob(f"sub-*/**/*_desc-{config.pipeline.desc}_features.tsv")):
        t = read_featureset(path).table
        rows.append(t[(t["location"] == "global") & (t["status"] == "ok")])
    features = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    present = [f for f in FEATURES if len(features) and (features["feature"] == f[0]).any()]
    fig = figs.distributions(features, present) if present else None
    twins, params = [], []
    log = out / "logs" / f"twins_{config.pipeline.name}.tsv"
    store_path = out / STORE_NAME
    if log.is_file():
        tt = pd.read_csv(log, sep="\t", dtype=str, keep_default_na=False).sort_values("subject")
        try:
            store = TwinStore(store_path, create=False) if store_path.exists() else None
        except NeurotwinError as err:
            logger.warning("study report: the twin store cannot be read: %s", err)
            store = None
        for _, r in tt.iterrows():
            values = {}
            try:
                twin = (store.load(r["subject"], damaged="skip")
                        if store is not None and r["status"] == "ok" and store.exists(r["subject"]) else None)
            except NeurotwinError as err:
                logger.warning("study report: sub-%s's twin cannot be read: %s", r["subject"], err)
                twin = None
            if twin is not None and twin.states_:
                values = {n: v for n, v in twin.states_[-1].params().items() if "[" not in n}
                params = params or list(values)
            twins.append(
                {
                    "subject": r["subject"],
                    "sessions": r["sessions"] or "-",
                    "status": r["status"],
                    "error": r["error"],
                    "alerts": r["alerts"] or "-",
                    "_values": values,
                }
            )
        for t in twins:
            got = t.pop("_values")
            t["cells"] = [fmt(got.get(p)) for p in params]
    inputs = [r["source"] for _, r in table.iterrows()]
    prov = provenance(config, out, inputs, command, bool(twins))
    nav = [
        ("recordings", "Recordings"),
        ("features", "Distributions"),
        ("twins", "Twins"),
        ("provenance", "Provenance"),
    ]
    html = (
        env()
        .get_template("study.html.j2")
        .render(
            title=f"neurotwin study report: {config.pipeline.name}",
            subtitle=f"{table['subject'].nunique()} subject(s), {len(table)} recording(s)",
            nav=nav,
            recordings=recordings,
            n_subjects=table["subject"].nunique(),
            n_recordings=len(table),
            n_failed=int((table["status"] == "failed").sum()),
            fig_features=fig,
            twins=twins,
            twin_params=params,
            prov=prov,
        )
    )
    return write(out / "group" / "report.html", html)
