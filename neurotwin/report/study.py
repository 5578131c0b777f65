"""The study report (group level): every recording's status and failure reason, group distributions,
twin summaries and alerts, with the same provenance section as the patients' reports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .._logging import logger
from ..errors import DataError, NeurotwinError
from ..io.bids import name_entities
from ..io.derivatives import Derivatives
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
    from ..twin import TwinStore

    out = Path(out_dir).resolve()
    deriv = Derivatives(out)
    status = deriv.status_log(config.pipeline.name)
    if not status.is_file():
        raise DataError(f"{status}: missing; run the participant level first.")
    table = deriv.read_log(status).sort_values(["subject", "session", "source"])
    recordings = []
    for _, r in table.iterrows():
        report = deriv.subject_page(r["subject"])
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
        t = t[(t["location"] == "global") & (t["status"] == "ok")].copy()
        t["task"] = name_entities(path.name).get("task", "")
        rows.append(t)
    features = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    present = [f for f in FEATURES if len(features) and (features["feature"] == f[0]).any()]
    fig = figs.distributions(features, present) if present else None
    covariates = _participants(deriv)
    fig_covariates = (
        figs.covariates(features, present, covariates) if present and covariates is not None else None
    )
    twins, params, labels, info = [], [], [], None
    tt = deriv.read_log(deriv.twins_log(config.pipeline.name))
    store_path = deriv.store
    if tt is not None:
        tt = tt.sort_values("subject")
        try:
            store = TwinStore(store_path, create=False) if store_path.exists() else None
        except NeurotwinError as err:
            logger.warning("study report: the twin store cannot be read: %s", err)
            store = None
        for _, r in tt.iterrows():
            values = {}
            try:
                twin = (
                    store.load(r["subject"], damaged="skip")
                    if store is not None and r["status"] == "ok" and store.exists(r["subject"])
                    else None
                )
            except NeurotwinError as err:
                logger.warning("study report: sub-%s's twin cannot be read: %s", r["subject"], err)
                twin = None
            if twin is not None and twin.states_:
                summary = twin.states_[-1].summary()
                values = dict(zip(summary["name"], summary["median"]))
                if not params:
                    params = list(summary["name"])
                    labels = [
                        f"{lb} ({u})" if u not in ("", "1") else lb
                        for lb, u in zip(summary["label"], summary["unit"])
                    ]
                    first = twin.states_[0]
                    info = {
                        "modality": twin.modality,
                        "connectome": first.provenance.get("connectome", ""),
                        "head": first.features.get("head", ""),
                        "random_state": first.provenance.get("random_state"),
                    }
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
    records = [
        json.loads(p.read_text()).get("Steps", [])
        for p in sorted(out.glob(f"sub-*/**/*_desc-{config.pipeline.desc}_*.json"))
        if not p.name.endswith("_features.json")
    ]
    prov = provenance(
        config,
        out,
        inputs,
        command,
        info,
        records=[r for r in records if r],
        n_failed=int((table["status"] == "failed").sum()),
    )
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
            fig_covariates=fig_covariates,
            twins=twins,
            twin_params=labels,
            prov=prov,
        )
    )
    return write(deriv.group_page, html)


def _participants(deriv: Derivatives) -> pd.DataFrame | None:
    """Age and sex by subject label from the raw study's ``participants.tsv`` (None without either)."""
    from ..io.bids import read_bids_tsv

    root = deriv.raw_root()
    path = root / "participants.tsv" if root is not None else None
    if path is None or not path.is_file():
        return None
    try:
        table = read_bids_tsv(path)
    except NeurotwinError as err:
        logger.warning("study report: %s cannot be read (%s); no covariates shown", path, err)
        return None
    keep = [c for c in ("age", "sex") if c in table.columns]
    if "participant_id" not in table.columns or not keep:
        return None
    out = pd.DataFrame({"subject": table["participant_id"].str.removeprefix("sub-")})
    if "age" in keep:
        out["age"] = pd.to_numeric(table["age"].where(table["age"].str.lower() != "n/a"), errors="coerce")
    if "sex" in keep:
        out["sex"] = table["sex"].where(table["sex"].str.lower() != "n/a", "")
    return out
