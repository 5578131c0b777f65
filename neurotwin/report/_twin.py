"""The twin's part of a subject's report: its states, parameters, model against data, changes, forecast
and the regional volumes its states kept (the longitudinal view)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._logging import logger
from ..errors import NeurotwinError
from ..io.derivatives import Derivatives
from . import _figures as figs
from ._common import fmt
from ._methods import anatomy_text, head_sources, own_anatomy

__all__ = ["twin_section"]

#: regions whose volume is drawn over sessions when the label volume has them (FreeSurfer names)
_DRAWN = (
    "Left-Hippocampus",
    "Right-Hippocampus",
    "Left-Amygdala",
    "Right-Amygdala",
    "Left-Lateral-Ventricle",
    "Right-Lateral-Ventricle",
)


def _damaged_text(twin) -> str:
    """Which states of a twin are damaged (left out of the report)."""
    return "; ".join(
        f"state {d['index']} (ses-{d['session']}) is damaged and left out: {d['error']}"
        for d in twin.damaged_
    )


def twin_section(out: Path, subject: str, sessions: list[dict]) -> dict:
    """The template's ``twin`` of a subject's page (its ``status`` says why when there is no twin)."""
    from ..twin import TwinStore

    deriv = Derivatives(out)
    path = deriv.store
    reason = "not fitted"
    logs = deriv.twin_logs()
    if logs:
        table = deriv.read_log(logs[0])
        hit = table[table["subject"] == subject]
        if len(hit) and hit["status"].iloc[0] != "ok":
            reason = f"{hit['status'].iloc[0]}: {hit['error'].iloc[0]}"
    empty = {
        "status": reason,
        "states": [],
        "trajectories": [],
        "changes": [],
        "change_control": "",
        "forecast": [],
        "params": [],
        "fits": [],
        "description": "",
        "horizon": 90,
        "volumes": {},
    }
    try:
        store = TwinStore(path, create=False) if path.exists() else None
        twin = store.load(subject, damaged="skip") if store is not None and store.exists(subject) else None
    except NeurotwinError as err:  # a damaged store: the report says so and shows the recordings
        logger.warning("sub-%s: the twin cannot be shown: %s", subject, err)
        twin, empty["status"] = None, f"the twin store cannot be read: {err}"
    if twin is None or not twin.states_:
        empty["changes"], empty["change_control"] = _feature_changes(sessions)
        if twin is not None:
            empty["status"] = _damaged_text(twin)
        return empty
    st = twin.states_
    from ..twin.objectives import get_objective

    obj = get_objective(twin.modality, twin.likelihood)
    parts, measures = list(obj.parts), obj.qualities
    out_ = dict(
        empty,
        status=f"{len(st)} state(s), {twin.modality}" + (f"; {_damaged_text(twin)}" if twin.damaged_ else ""),
    )
    con_name = st[0].provenance.get("connectome", "")
    network = (
        "TVB's template connectome (not the subject's own)"
        if con_name.startswith("tvb")
        else "the subject's connectome"
    )
    head = st[0].features.get("head", "region centres")
    head = head_sources(head)
    sensors = {
        "eeg": "a three-shell sphere fitted to the electrodes",
        "meg": "a sphere fitted to the head (MNE's MEG forward model of the recording's own coils)",
    }
    kinds = [m for p in parts for m in p.split("+") if m in sensors]  # EEG, MEG or both
    anatomy = own_anatomy(st[0].features)
    if anatomy is not None and kinds:
        head = anatomy_text(anatomy)
        sensors.update({m: "the subject's own head" for m in kinds})
    texts = []
    if kinds:
        seen = " and ".join(sensors[m] + (f" for the {m.upper()}" if len(kinds) > 1 else "") for m in kinds)
        texts.append(
            f"A Hopf network on {network}, each region with its own alpha frequency and damping, seen "
            f"through a lead field of {head} in {seen}, plus per-"
            f"channel gain, aperiodic background (with a knee) and beta rhythm"
            + (" (each kind of sensors its own)" if len(kinds) > 1 else "")
            + "; fitted to the PSD (Whittle "
            "likelihood; a Fisher-information posterior widened by the sandwich over the recording's "
            "blocks). Fit quality is the correlation of model and data log-PSD."
        )
    if "bold" in parts:
        texts.append(
            (
                "A second Hopf network on the same connectome, at BOLD's time scale (parameters "
                "'BOLD ...'), fitted to band-passed BOLD FC (Wishart likelihood; fit quality: the FC "
                "correlation). The two share, through offsets that are the person's own (fitted, no "
                "drift), the coupling relative to the damping"
                + (
                    " and each region's relative damping"
                    if "damping" in st[0].features.get("shared", [])
                    else ""
                )
                + ": one likelihood over every session's modalities, so a session of either one moves both."
            )
            if kinds
            else f"A Hopf network on {network} fitted to band-passed BOLD FC (Wishart likelihood); fit "
            f"quality is the FC correlation."
        )
    out_["description"] = " ".join(texts)
    for s in st:
        d = s.diagnostics
        out_["states"].append(
            {
                "session": s.session,
                "day": fmt(s.at, 4),
                "modalities": " + ".join(s.features.get("modalities") or [twin.modality])
                + (" (+ volumes)" if s.features.get("volumes") else ""),
                "quality": ", ".join(
                    (f"{obj.quality_parts[key]} " if len(measures) > 1 else "") + fmt(d.get(key), 3)
                    for key in measures
                    if d.get(key) is not None
                ),
                "model_iaf": fmt(d.get("model_iaf"), 4),
                "converged": "yes" if d.get("converged") else "no",
                "poor": next((w for w in d.get("warnings", []) if w.startswith("poor fit")), ""),
                "warnings": "; ".join(
                    w.split(" (")[0] for w in d.get("warnings", []) if not w.startswith("poor fit")
                ),
            }
        )
    tables = [s.summary(0.9) for s in st]
    names = list(tables[0]["name"])
    out_["params"] = [
        {
            "name": n,
            "label": tables[0].iloc[i]["label"],
            "unit": tables[0].iloc[i]["unit"],
            "cells": [
                {
                    "text": f"{fmt(t.iloc[i]['median'])} [{fmt(t.iloc[i]['low'])}, {fmt(t.iloc[i]['high'])}]",
                    "note": t.iloc[i]["note"],
                }
                for t in tables
            ],
        }
        for i, n in enumerate(names)
    ]
    out_["implausible"] = [
        f"ses-{s.session}: {r['label']} {fmt(r['median'])} {r['unit']} is {r['note']}"
        for s, t in zip(st, tables)
        for _, r in t.iterrows()
        if r["note"]
    ]
    # model against data, per session (EEG: mean PSD over channels)
    by_session = {s["session"]: s for s in sessions}
    for s in st:
        fs = by_session.get(s.session, {}).get("_featureset")
        if fs is None or "eeg" not in parts[0].split("+"):
            continue
        try:
            seen, model = twin.observed(fs), twin.predict(fs, state=s.index)
        except NeurotwinError:
            continue
        if isinstance(seen, dict):  # a joint twin: its EEG part (the session's EEG features)
            seen, model = seen.get("eeg"), model.get("eeg")
            if seen is None:
                continue
        out_["fits"].append(
            figs.model_vs_data(
                np.asarray(seen.coords["freq"]),
                seen.values.mean(axis=0),
                model.values.mean(axis=0),
                f"ses-{s.session}",
            )
        )
    changes = twin.changes()
    out_["changes"], out_["change_control"] = _change_rows(changes)
    out_["info"] = {
        "modality": twin.modality,
        "connectome": con_name,
        "head": st[0].features.get("head", ""),
        "anatomy": own_anatomy(st[0].features),
        "random_state": st[0].provenance.get("random_state"),
        "n_states": len(st),
        "sd_sources": sorted(set(changes["sd_source"])) if len(changes) else [],
        # a BOLD first fit's population prior (a joint twin's is its BOLD part's)
        "population": st[0].features.get("population")
        or (st[0].features.get("parts") or {}).get("bold", {}).get("population"),
    }
    if len(st) >= 2:
        horizon = 90.0
        fc = twin.forecast(st[-1].at + horizon)
        out_["forecast"] = [
            {
                "kind": r["kind"],
                "name": r["label"],
                "code": r["name"],
                "unit": r["unit"],
                "at": fmt(r["at"], 4),
                "value": fmt(r["value"], 4),
                "interval": f"[{fmt(r['low'], 4)}, {fmt(r['high'], 4)}]",
                "basis": r["basis"],
                "note": r["note"],
            }
            for _, r in fc.iterrows()
        ]
        shown = [n for n in ("f", "exponent", "a", "G") if n in names] or names[:4]
        for name in shown:
            flagged = (
                set(changes[(changes["name"] == name) & changes["flagged"]]["session"])
                if len(changes)
                else set()
            )
            row = fc[fc["name"] == name]
            out_["trajectories"].append(
                figs.trajectory(
                    twin.trajectory(name),
                    row.iloc[0] if len(row) else None,
                    flagged,
                    st[-1].posterior.label(name)[0],
                    st[-1].posterior.label(name)[1],
                )
            )
    out_["volumes"] = _volumes(twin)
    return out_


def _volumes(twin) -> dict:
    """The regional volumes the twin's states kept: a table (regions x sessions) and a few trajectories.

    Drawn: the hippocampi, amygdalae and lateral ventricles when the label
    volume names them, else the four regions whose volume moved most
    between the first and last session relative to its SE.
    """
    table = twin.volumes(0.9)
    if table.empty:
        return {}
    sessions = list(dict.fromkeys(table["session"]))
    regions = list(dict.fromkeys(table["location"]))
    at = table.set_index(["location", "session"])
    rows = []
    for region in regions:
        cells = []
        for ses in sessions:
            if (region, ses) not in at.index:
                cells.append("-")
                continue
            r = at.loc[(region, ses)]
            cells.append(f"{r['value']:.0f}" + (f" ± {r['se']:.0f}" if np.isfinite(r["se"]) else ""))
        rows.append({"name": region, "cells": cells})
    drawn = []
    if len(sessions) >= 2:
        picked = [r for r in _DRAWN if r in regions]
        if not picked:
            first, last = (
                table[table["session"] == s].set_index("location") for s in (sessions[0], sessions[-1])
            )
            moved = ((last["value"] - first["value"]).abs() / first["se"]).dropna()
            picked = list(moved.sort_values(ascending=False, kind="stable").index[:4]) or regions[:4]
        for region in picked:
            traj = table[table["location"] == region]
            drawn.append(
                figs.trajectory(traj, None, set(), region, "mm³", value_label="measured (90 % from its SE)")
            )
    return {"sessions": sessions, "rows": rows, "figs": drawn}


def _change_rows(changes: pd.DataFrame) -> tuple[list[dict], str]:
    """The change table's rows (parameters, and features when flagged) and how alerts are decided."""
    shown = changes[(changes["kind"] == "parameter") | changes["flagged"]] if len(changes) else changes
    rows = [
        {
            "session": r["session"],
            "at": fmt(r["at"], 4),
            "kind": r["kind"],
            "name": r["label"] + (f" ({r['band']})" if r["band"] else ""),
            "code": r["name"],
            "location": r["location"] or "-",
            "baseline": fmt(r["baseline"], 4),
            "value": fmt(r["value"], 4),
            "se": fmt(r["se"]),
            "between_sd": fmt(r["between_sd"]),
            "q_value": fmt(r["q_value"]),
            "p_meaningful": fmt(r["p_meaningful"]) if np.isfinite(r["p_meaningful"]) else "-",
            "flagged": bool(r["flagged"]),
        }
        for _, r in shown.iterrows()
    ]
    if not len(changes):
        return rows, ""
    n_feat = changes[changes["kind"] == "feature"].groupby("session").size()
    sources = sorted(set(changes["sd_source"]))
    what = "the twin's parameters and " if (changes["kind"] == "parameter").any() else ""
    text = (
        f"Each session is tested against the first on {what}"
        f"{int(n_feat.max()) if len(n_feat) else 0} feature values (every channel), "
        f"{int(changes['n_tests'].max())} tests in {int(changes['n_families'].max())} families (one a "
        f"measure) in all; a change is flagged when its q-value is at most "
        f"{fmt(changes['threshold'].iloc[0])}: the false discovery rate is controlled in two levels, "
        f"Benjamini-Hochberg over the families' Simes p-values, then within the selected families "
        f"(Benjamini & Bogomolov 2014). The SE is that of the difference, measured from the two "
        f"recordings (jackknife over their blocks; for parameters, the twin's estimates widened by the "
        f"sandwich); the between-session SD comes from: {'; '.join(sources)}. Feature rows are shown only "
        f"when flagged."
    )
    return rows, text


def _feature_changes(sessions: list[dict]) -> tuple[list[dict], str]:
    """Change detection on the features alone (a subject without a twin), sessions in time order."""
    from ..twin.longitudinal import feature_changes

    done = sorted((s for s in sessions if s.get("_featureset") is not None), key=lambda s: s["_day"])
    if len(done) < 2:
        return [], ""
    table = feature_changes([s["_featureset"] for s in done], at=[s["_day"] for s in done])
    return _change_rows(table)
