"""Study-level outputs of a pipeline (``neurotwin run ... group``).

Gathers what the participant level wrote: one summary row per recording
(status, failure reason, what each step did: bad channels, removed ICA
components, kept epochs, ...), the regional-volume tables of all subjects
stacked, all feature tables in one long table (subject, session,
feature, location, band, value, se, ...) for group and longitudinal
analysis, and — when the study's twins have repeated sessions — the
study's between-session SDs (test-retest of the twins' parameters and the
features across its subjects' sessions), written to
``group/<pipeline>_desc-<desc>_variability.json`` and kept in the twin
store, whose twins then use them for change detection
(:mod:`neurotwin.twin.variability`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..features import read_featureset
from ..io.derivatives import Derivatives
from ._cache import atomic_files
from .config import PipelineConfig


def _flatten(steps: list[dict]) -> dict:
    """``{"<step>_<key>": value}`` of the scalar and list entries of the step logs."""
    flat = {}
    for entry in steps:
        for key, value in (entry.get("log") or {}).items():
            if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
                value = ",".join(map(str, value))
            if isinstance(value, (str, int, float, bool)) or value is None:
                flat[f"{entry['step']}_{key}"] = value
    return flat


def write_group(cfg: PipelineConfig, out: Path) -> list[Path]:
    """Write the study-level outputs into ``OUT/group``; return their paths."""
    status_file = Derivatives(out).status_log(cfg.pipeline.name)
    if not status_file.is_file():
        raise DataError(
            f"{out}: no participant-level results of {cfg.pipeline.name} yet; run the "
            f"'participant' level first."
        )
    status = pd.read_csv(status_file, sep="\t", dtype=str, keep_default_na=False)
    rows, tables, features = [], [], []
    for _, st in status.iterrows():
        row = {
            "subject": st["subject"],
            "session": st["session"],
            "source": st["source"],
            "status": st["status"],
            "error": st["error"],
        }
        sidecars = sorted(out.glob(f"sub-{st['subject']}/**/*_desc-*.json"))
        for sc in sidecars:
            meta = json.loads(sc.read_text())
            if (
                meta.get("Sources") != [f"bids:raw:{st['source']}"]
                or meta.get("Pipeline", {}).get("Name") != cfg.pipeline.name
            ):
                continue
            data_files = [p for p in sc.parent.glob(sc.name.rsplit(".", 1)[0] + ".*") if p.suffix != ".json"]
            row["output"] = str(data_files[0].relative_to(out)) if data_files else ""
            row.update(_flatten(meta.get("Steps", [])))
            for data_file in data_files:
                if data_file.name.endswith("_morph.tsv"):
                    table = pd.read_csv(data_file, sep="\t")
                    table.insert(0, "session", st["session"])
                    table.insert(0, "subject", st["subject"])
                    tables.append(table)
                elif data_file.name.endswith("_features.tsv"):
                    features.append(read_featureset(data_file).table)
        rows.append(row)
    written = []
    group = out / "group"
    with atomic_files(group) as tmp:
        name = f"{cfg.pipeline.name}_desc-{cfg.pipeline.desc}_summary.tsv"
        pd.DataFrame(rows).to_csv(tmp / name, sep="\t", index=False, na_rep="n/a")
        written.append(group / name)
        if tables:
            name = f"{cfg.pipeline.name}_desc-{cfg.pipeline.desc}_morph.tsv"
            pd.concat(tables, ignore_index=True).to_csv(
                tmp / name, sep="\t", index=False, float_format="%.6g"
            )
            written.append(group / name)
        if features:  # every subject's and session's features in one long table
            name = f"{cfg.pipeline.name}_desc-{cfg.pipeline.desc}_features.tsv"
            pd.concat(features, ignore_index=True).to_csv(
                tmp / name, sep="\t", index=False, float_format="%.10g", na_rep="n/a"
            )
            written.append(group / name)
        variability = _study_variability(out, cfg.twin.modality) if cfg.twin is not None else None
        if variability is not None:
            name = f"{cfg.pipeline.name}_desc-{cfg.pipeline.desc}_variability.json"
            (tmp / name).write_text(json.dumps(variability, indent=1, sort_keys=True))
            written.append(group / name)
    return written


def _study_variability(out: Path, modality: str) -> dict | None:
    """The study's between-session SDs from its twins of a modality (None when none has two sessions)."""
    from ..twin.store import TwinStore
    from ._twins import study_variability

    path = Derivatives(out).store
    if not path.is_file():
        return None
    return study_variability(TwinStore(path), modality)
