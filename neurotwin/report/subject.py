"""The per-patient report: sessions, preprocessing, features, the twin and its longitudinal view.

Built with jinja2 templates rather than ``mne.Report``: the report spans
sessions and the twin's history (``mne.Report`` is organised around one
recording), and every byte of it must be reproducible — here the page is
plain HTML and CSS with figures as SVG data URIs, no script, no
timestamp, no random ids. Rebuilding from the derivatives adds new
sessions' sections and refreshes the trajectories.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import atomic_files
from .._logging import logger
from ..errors import DataError, NeurotwinError
from ..features.featureset import read_featureset
from ..io.bids import name_entities
from ..io.derivatives import Derivatives, is_output_desc
from . import _figures as figs
from . import _qc as qcfigs
from ._common import code_digest, env, fmt, inputs_digest, provenance, up_to_date, write
from ._twin import twin_section

__all__ = ["subject_report"]

_STEP_SUMMARY = {
    "detect_bads": lambda log: f"bad channels: {', '.join(log.get('bads', [])) or 'none'}",
    "interpolate": lambda log: f"interpolated: {', '.join(log.get('interpolated', [])) or 'none'}",
    "ica": lambda log: (
        f"ICA ({log.get('method', '')}, {log.get('n_components', '?')} components): removed "
        f"{len(log.get('excluded', []))} ({', '.join(sorted(log.get('found', {}))) or 'none'})"
    ),
    "epochs": lambda log: (
        f"{log.get('n_kept', '?')} of {log.get('n_total', '?')} epochs kept of "
        f"{log.get('length', '?')} s ({log.get('n_bad_amplitude', 0)} over amplitude limits, "
        f"{log.get('n_bad_annotation', 0)} in bad segments)"
    ),
    "notch": lambda log: (
        "no mains peak found: not filtered"
        if log.get("line_freq") is None
        else f"notch at {', '.join(f'{f:g}' for f in log.get('freqs', [log['line_freq']]))} Hz"
    ),
    "resample": lambda log: (
        f"left at {log['sfreq']:g} Hz"
        if log.get("unchanged") and "sfreq" in log
        else f"{log['sfreq_from']:g} -> {log['sfreq']:g} Hz"
        if "sfreq_from" in log
        else ""
    ),
    "crop": lambda log: f"kept {log['kept'][0]:g}-{log['kept'][1]:g} s" if "kept" in log else "",
}


#: the name a session of another modality is shown with, by its BIDS datatype folder
_KINDS = {"eeg": "EEG", "meg": "MEG", "func": "BOLD", "anat": "MRI"}


def _twin_reads(config) -> list[str]:
    """The names of the other pipelines the twin reads (``[twin] modalities``: a built-in's name, or a
    file's stem), as their outputs' sidecars record them (``Pipeline.Name``)."""
    names = [Path(m).stem for m in (config.twin.modalities if config.twin is not None else [])]
    return [n for n in dict.fromkeys(names) if n != config.pipeline.name]


def _sidecars(out: Path, subject: str, desc: str) -> list[tuple[str, Path, dict]]:
    """A subject's output sidecars of a pipeline's ``desc`` (any: ``"*"``): ``(session, path, meta)``."""
    found = []
    for path in sorted((out / f"sub-{subject}").rglob(f"sub-{subject}*_desc-*_*.json")):
        if path.name.endswith("_features.json"):
            continue
        if desc != "*" and not is_output_desc(name_entities(path.name).get("desc", ""), desc):
            continue
        meta = json.loads(path.read_text())
        if "Steps" in meta:
            ses = next((p[4:] for p in path.name.split("_") if p.startswith("ses-")), "")
            found.append((ses, path, meta))
    return found


#: human names of feature rows the twin does not follow (those are in FEATURE_INFO)
_FEATURE_NAMES = {
    "band_power": "band power",
    "aperiodic_knee": "aperiodic knee",
    "sample_entropy": "sample entropy",
    "perm_entropy": "permutation entropy",
    "lziv": "Lempel-Ziv complexity",
    "hjorth_mobility": "Hjorth mobility",
    "hjorth_complexity": "Hjorth complexity",
}


def feature_label(name: str, band: str = "", unit: str = "") -> str:
    """A feature row's human name, band and unit (``relative band power, alpha``, ``IAF (Hz)``...).

    Examples
    --------
    >>> from neurotwin.report.subject import feature_label
    >>> feature_label("band_power_rel", "alpha", "1"), feature_label("iaf", unit="Hz")
    ('relative band power, alpha', 'individual alpha frequency (Hz)')
    """
    from ..twin.longitudinal import FEATURE_INFO

    known = FEATURE_INFO.get(name)
    label = known[0] if known else _FEATURE_NAMES.get(name, name.replace("_", " "))
    unit = {"data": "data units", "1": ""}.get(unit, unit)
    return f"{label}{', ' + band if band else ''}{f' ({unit})' if unit else ''}"


def _source(meta: dict) -> str:
    src = (meta.get("Sources") or [""])[0]
    return src.split(":", 2)[-1] if src.startswith("bids:") else src


def _raw_part(out: Path, rel: str, logs: dict, sidecar: Path) -> dict | None:
    """What the page shows of the raw recording: its good channels' mean PSD, size, and the QC figures
    (traces, every channel's PSD, the drop log, the removed ICA components); None without the raw file.

    Kept in the figure cache (``.neurotwin/report/``) under a hash of the recording's sidecar (its
    input's cache key and every step's log) and of the report code: a page rebuilt because the twin
    changed does not read and draw every recording again.
    """
    deriv = Derivatives(out)
    root = deriv.raw_root()
    path = root / rel if root is not None else None
    if path is None or not path.exists():
        return None
    key = hashlib.sha256(json.dumps([code_digest(), rel, sidecar.read_text()]).encode()).hexdigest()
    cached = deriv.figure_cache / f"{key}.json"
    if cached.is_file():
        try:
            part = json.loads(cached.read_text())
            part["freqs"], part["psd"] = np.asarray(part["freqs"]), np.asarray(part["psd"])
            return part
        except (ValueError, KeyError):  # a damaged entry is drawn again
            pass
    part = _draw_raw_part(path, rel, logs, sidecar)
    if part is not None:
        try:
            with atomic_files(cached.parent) as tmp:
                (tmp / cached.name).write_text(
                    json.dumps({**part, "freqs": part["freqs"].tolist(), "psd": part["psd"].tolist()})
                )
        except OSError as err:  # a read-only cache: the page is still written
            logger.info("report: QC figures not cached (%s)", err)
    return part


def _draw_raw_part(path: Path, rel: str, logs: dict, sidecar: Path) -> dict | None:
    from ..io import read_raw

    try:
        raw = read_raw(path, verbose="error").load_data(verbose="error")
    except NeurotwinError as err:
        logger.info("report: no raw PSD of %s (%s)", rel, err)
        return None
    bads = list(logs.get("detect_bads", {}).get("bads", []))
    picks = [
        i
        for i, (n, t) in enumerate(zip(raw.ch_names, raw.get_channel_types()))
        if t in ("eeg", "mag", "grad") and n not in bads
    ]
    if not picks:
        return None
    spec = qcfigs.raw_psd(raw, min(60.0, raw.info["sfreq"] / 2), picks, 2 * raw.info["sfreq"])
    info = {
        "n_channels": len(raw.ch_names),
        "duration": fmt(raw.n_times / raw.info["sfreq"], 4),
        "sfreq": fmt(raw.info["sfreq"], 4),
    }
    notch = logs.get("notch", {})
    notched = notch.get("freqs") or ([notch["line_freq"]] if notch.get("line_freq") else [])
    qc = qcfigs.raw_qc(raw, bads, notched)
    epo = sidecar.with_suffix(".fif")
    if epo.is_file() and epo.name.endswith("_epo.fif"):
        import mne

        qc["drops"] = qcfigs.drop_log(mne.read_epochs(epo, preload=False, verbose="error"))
    if logs.get("ica", {}).get("qc"):
        if raw.get_montage() is None:
            from ..io.channels import standard_montage

            raw.set_montage(standard_montage(), on_missing="ignore", verbose="error")
        qc["ica"] = qcfigs.ica_components(logs["ica"]["qc"], raw.info)
    return {"freqs": spec.freqs, "psd": spec.get_data().mean(axis=0) * 1e12, "info": info, "qc": qc}


def _session(out: Path, subject: str, ses: str, sidecar: Path, meta: dict, days: dict) -> dict:
    rel = _source(meta)
    row = {
        "session": ses or "-",
        "day": fmt(days.get(ses, 0.0), 4),
        "_day": float(days.get(ses, 0.0)),
        "source": Path(rel).name,
        "status": "ok",
        "error": "",
        "steps": [],
        "features": [],
        "fig_psd": None,
        "qc": {},
        "fig_topo": None,
        "fig_matrices": [],
        "n_channels": "-",
        "duration": "-",
        "sfreq": "-",
        "bads": "-",
        "ica": "-",
        "epochs": "-",
    }
    for step in meta["Steps"]:
        log = step.get("log", {})
        text = _STEP_SUMMARY.get(step["step"], lambda _: "")(log)
        row["steps"].append(f"{step['step']}: " + (text or ("no change" if log.get("unchanged") else "done")))
        if step["step"] == "detect_bads":
            row["bads"] = ", ".join(log.get("bads", [])) or "none"
        elif step["step"] == "ica":
            row["ica"] = str(len(log.get("excluded", [])))
        elif step["step"] == "epochs":
            row["epochs"] = f"{log.get('n_kept', '?')}/{log.get('n_total', '?')}"
    before = _raw_part(out, rel, {st["step"]: st.get("log", {}) for st in meta["Steps"]}, sidecar)
    if before is not None:
        row.update(before["info"])
        row["qc"] = before["qc"]
    feat_path = next(sidecar.parent.glob(sidecar.name.split("_desc-")[0] + "_desc-*_features.tsv"), None)
    if feat_path is None:
        return row
    fs = read_featureset(feat_path)
    psd = next((a for k, a in fs.arrays.items() if k.endswith("psd")), None)
    if psd is not None:
        freqs = np.asarray(psd.coords["freq"], float)
        b = (before["freqs"], before["psd"]) if before is not None else (None, None)
        row["fig_psd"] = figs.psd_before_after(b[0], b[1], freqs, np.asarray(psd.values).mean(axis=0))
    t = fs.table[fs.table["status"] == "ok"]
    glob = t[t["location"] == "global"]
    for _, r in glob.sort_values(["feature", "band"]).iterrows():
        row["features"].append((feature_label(r["feature"], r["band"], r["unit"]), fmt(r["value"], 4)))
    vol = t[t["feature"] == "volume"]
    if len(vol):  # an MRI session: its regions in all (each one's volume is in the longitudinal view)
        row["features"] += [
            ("labelled regions", str(len(vol))),
            ("labelled volume (mm³)", f"{vol['value'].sum():.0f}"),
        ]
    maps = []
    # each map's colour scale spans at least a difference worth seeing (about twice a channel's
    # measurement SE), so that noise between channels is not stretched over the whole scale
    for feat, band, title, unit, span in (
        ("band_power_rel", "alpha", "relative alpha power", "1", 0.05),
        ("iaf", "", "IAF", "Hz", 1.0),
        ("aperiodic_exponent", "", "aperiodic exponent", "1", 0.3),
    ):
        sel = t[(t["feature"] == feat) & (t["band"] == band) & (t["location"] != "global")]
        if len(sel) >= 4:
            maps.append((title, sel["value"].to_numpy(float), list(sel["location"]), unit, span))
    if maps and fs.table["modality"].iloc[0] == "eeg":
        row["fig_topo"] = figs.topomaps(maps)
    for key, arr in sorted(fs.arrays.items()):
        if len(arr.dims) == 2 and arr.dims[1] == arr.dims[0] + "2":  # a connectivity matrix
            row["fig_matrices"].append(figs.matrix(np.asarray(arr.values, float), key.split("/")[-1]))
    row["_featureset"] = fs
    return row


def subject_report(out_dir, subject: str, config, *, command: str | None = None) -> Path:
    """Write ``OUT/sub-<subject>.html`` from a derivatives folder.

    Parameters
    ----------
    out_dir : path
        The derivatives folder of a participant run.
    subject : str
        Subject label (without ``sub-``).
    config : PipelineConfig
        The pipeline that made the derivatives.
    command : str | None
        The command line, for the provenance section.

    Returns
    -------
    path : pathlib.Path
    """
    out = Path(out_dir).resolve()
    deriv = Derivatives(out)
    own = config.pipeline.name  # (another pipeline's outputs may have the same desc: resting_meg's)
    found = [
        f
        for f in _sidecars(out, subject, config.pipeline.desc)
        if f[2].get("Pipeline", {}).get("Name", own) == own
    ]
    # the recordings of the other pipelines its twin reads, as sessions of their own
    others = _twin_reads(config)
    kinds = {}
    for ses, path, meta in _sidecars(out, subject, "*"):
        if meta.get("Pipeline", {}).get("Name") in others:
            kinds[str(path)] = _KINDS.get(path.parent.name, path.parent.name.upper())
            found.append((ses, path, meta))
    if not found:
        raise DataError(f"{out}: no outputs of sub-{subject} to report on.")
    days = {}
    try:
        days = deriv.session_days(subject, [ses for ses, _, _ in found])
    except NeurotwinError as err:
        logger.info("sub-%s: no session days (%s)", subject, err)
    page = deriv.subject_page(subject)
    digest = _inputs(out, subject, config, command, days)
    if digest is not None and up_to_date(page, digest):  # nothing it shows changed
        logger.debug("sub-%s: report up to date", subject)
        return page
    sessions = []
    for ses, path, meta in found:
        row = _session(out, subject, ses, path, meta, days)
        kind = kinds.get(str(path), "")
        row.update(kind=kind, anchor=f"ses-{row['session']}" + (f"-{kind.lower()}" if kind else ""))
        sessions.append(row)
    sessions.sort(key=lambda r: (r["_day"], r["session"], r["kind"]))  # the pipeline's own ("") first
    logs = [deriv.read_log(deriv.status_log(n)) for n in [config.pipeline.name, *others]]
    logs = [t for t in logs if t is not None]
    table = pd.concat(logs, ignore_index=True) if logs else None
    missing = []  # recordings of this subject with no outputs: failed or left out, with the reason
    if table is not None:
        mine = table[table["subject"] == subject]
        for s in sessions:
            hit = mine[mine["session"] == s["session"].replace("-", "")]
            if len(hit) and (hit["status"] == "failed").any():
                s["status"], s["error"] = "failed", hit[hit["status"] == "failed"]["error"].iloc[0]
        shown = {s["source"] for s in sessions}
        for _, r in mine.iterrows():
            if r["status"] in ("failed", "skipped") and Path(r["source"]).name not in shown:
                missing.append(
                    {
                        "session": r["session"] or "-",
                        "day": fmt(days.get(r["session"]), 4),
                        "source": Path(r["source"]).name,
                        "status": r["status"],
                        "error": r["error"] or "-",
                    }
                )
    twin = twin_section(out, subject, [s for s in sessions if not s["kind"]])
    alerts = [c for c in twin["changes"] if c["flagged"]]
    inputs = [_source(meta) for _, _, meta in found]
    n_failed = sum(m["status"] == "failed" for m in missing)
    prov = provenance(
        config,
        out,
        inputs,
        command,
        twin.pop("info", None),
        records=[meta["Steps"] for _, _, meta in found if not meta.get("Failed")],
        n_failed=n_failed,
    )
    nav = (
        [("overview", "Overview")]
        + [
            (s["anchor"], f"Session {s['session']}" + (f" ({s['kind']})" if s["kind"] else ""))
            for s in sessions
        ]
        + [("twin", "Twin"), ("longitudinal", "Longitudinal"), ("provenance", "Provenance")]
    )
    for s in sessions:
        s.pop("_featureset", None)
        s.pop("_day", None)
    html = (
        env()
        .get_template("subject.html.j2")
        .render(
            title=f"neurotwin report: sub-{subject}",
            subtitle=f"pipeline {config.pipeline.name}; {len(sessions)} session(s)",
            nav=nav,
            sessions=sessions,
            missing=missing,
            twin=twin,
            alerts=alerts,
            prov=prov,
            inputs_digest=digest,
        )
    )
    return write(page, html)


def _inputs(out: Path, subject: str, config, command: str | None, days: dict) -> str | None:
    """A hash of everything the subject's page shows: the subject's derivative sidecars (each holds its
    data's content hash and cache key, hence the raw input's), the run's status and twin log rows, the
    twin store's record of the subject, the session days, the pipeline and the command (None when the
    store cannot be read: such a page is always rebuilt)."""
    from ..twin import TwinStore

    deriv = Derivatives(out)
    sidecars = [
        (str(p.relative_to(out)), p.read_bytes().hex())
        for p in sorted((out / f"sub-{subject}").rglob("*.json"))
    ]
    rows = []  # what the page takes from the logs: each recording's and the twin's status and error
    for log in [
        deriv.status_log(n) for n in [config.pipeline.name, *_twin_reads(config)]
    ] + deriv.twin_logs():
        table = deriv.read_log(log)
        if table is not None:
            if {"subject", "status", "error"} <= set(table.columns):
                mine = table[table["subject"] == subject]
                status = mine["status"].replace("up to date", "ok")  # a rerun's "up to date" shows as ok
                key = mine["source"] if "source" in mine else mine["subject"]
                rows.append(sorted(zip(key, status, mine["error"])))
    store = ""
    if deriv.store.exists():
        try:
            store = TwinStore(deriv.store, create=False).fingerprint(subject)
        except NeurotwinError:  # the page shows the error: rebuild it whenever asked
            return None
    source = Path(config.source) if config.source else None
    definition = source.read_text() if source is not None and source.is_file() else ""
    return inputs_digest(
        subject,
        config.model_dump(mode="json", exclude={"source"}),
        definition,
        command,
        sidecars,
        rows,
        store,
        {str(k): float(v) for k, v in days.items()},
    )
