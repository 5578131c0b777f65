"""The ``neurotwin`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from . import __version__
from ._logging import logger, set_log_level
from .errors import NeurotwinError


def _cmd_info(args: argparse.Namespace) -> int:
    import pandas as pd

    from .io import (
        discover_study,
        find_reader,
        inspect_mri,
        match_reader,
        read_connectome,
        read_mri,
        read_raw,
    )

    path = Path(args.path)
    if path.is_dir() and match_reader(path) is None:
        study = discover_study(path, pattern=args.pattern)
        print(f"Study: {path} ({study.layout})")
        print(f"{len(study.subjects)} subjects, {len(study.recordings)} recordings")
        with pd.option_context("display.max_rows", 500, "display.width", 200):
            table = study.table().fillna("")
            table["session"] = table["session"].replace("", "-")
            print(table.to_string(index=False))
        if study.problems:
            print(f"\n{len(study.problems)} file(s) not mapped:")
            for rel, why in study.problems:
                print(f"  {rel}: {why}")
        return 0
    spec = find_reader(path)
    if spec.modality == "ephys":
        raw = read_raw(path, preload=False)
        types = pd.Series(raw.get_channel_types()).value_counts().to_dict()
        print(
            f"{path.name}: {spec.name}, {raw.times[-1] + 1 / raw.info['sfreq']:.1f} s at "
            f"{raw.info['sfreq']:g} Hz, channels {types}, bads {raw.info['bads']}, "
            f"{len(raw.annotations)} annotations"
        )
    elif spec.modality == "mri":
        info = inspect_mri(read_mri(path))
        extra = f", TR {info.tr:g} s" if info.tr else ""
        extra += f", {len(info.labels)} labels" if info.labels else ""
        print(f"{path.name}: {spec.name} {info.kind}, shape {info.shape}, voxels {info.voxel_size} mm{extra}")
    else:
        print(repr(read_connectome(path)))
    return 0


def _cmd_pipeline_check(args: argparse.Namespace) -> int:
    from .pipeline import load

    pipe = load(args.file)  # the definition, and the pipelines its [twin] reads
    cfg = pipe.config
    reads = [s.name for s in pipe.sources[1:]]
    print(
        f"{args.file}: valid {cfg.pipeline.modality} pipeline {cfg.pipeline.name!r} with "
        f"{len(cfg.steps)} steps: {', '.join(s.step for s in cfg.steps)}"
        + (f"; its twin also reads {', '.join(reads)}" if reads else "")
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from .io import discover_study
    from .pipeline import load

    pipe = load(args.pipeline)  # a bad pipeline file stops here, before any work
    if args.analysis_level == "group":
        for path in pipe.group(args.out_dir, command=args.command_line):
            print(f"wrote {path}")
        return 0
    study = discover_study(args.bids_root, pattern=args.pattern)
    result = pipe.run(
        study,
        args.out_dir,
        participant_label=args.participant_label,
        session_label=args.session_label,
        jobs=args.jobs,
        scheduler=args.scheduler,
        dask_workers=args.dask_workers,
        work_dir=args.work_dir,
        progress=args.progress,
        command=args.command_line,
        task=args.task,
        run=args.run,
        bids_filter=args.bids_filter_file,
        keep_intermediates=args.keep_intermediates,
        reports=not args.no_reports,
    )
    table = result.summary()
    table["session"] = table["session"].replace("", "-")
    skipped = table[table["status"] == "skipped"]
    table = table[table["status"] != "skipped"]
    with pd.option_context("display.max_rows", 1000, "display.width", 250, "display.max_colwidth", 120):
        print(table.drop(columns="error").to_string(index=False))
    if not skipped.empty:
        print(f"\n{len(skipped)} recording(s) skipped:")
        for _, row in skipped.iterrows():
            print(f"  {row['source']}: {row['error']}")
    failed = table[table["status"] == "failed"]
    if not failed.empty:
        print(f"\n{len(failed)} recording(s) failed:")
        for _, row in failed.iterrows():
            print(f"  {row['source']}: {row['error']}")
    if result.twins is not None and len(result.twins):
        twins = result.twins.assign(alerts=result.twins["alerts"].replace("", "-"))
        print("\ntwins:")
        with pd.option_context("display.width", 250, "display.max_colwidth", 120):
            print(twins.drop(columns="error").to_string(index=False))
        for _, row in twins[twins["status"] != "ok"].iterrows():
            print(f"  sub-{row['subject']} ({row['status']}): {row['error']}")
    if result.reports:
        print(
            "\nreports: "
            + ", ".join(
                Path(p).name if not p.startswith("failed") else f"sub-{s} {p}"
                for s, p in sorted(result.reports.items())
            )
        )
    print(
        f"\n{len(result.tasks)} subject/session tasks, {result.n_failed} failed, "
        f"{result.executed} steps run in {result.seconds:.1f} s; outputs in {result.out_dir}"
    )
    return result.exit_code


def _cmd_clean(args: argparse.Namespace) -> int:
    from .pipeline import clean_work

    folder, freed = clean_work(args.out_dir, args.work_dir)
    if freed is None:
        print(f"no step cache at {folder}; nothing to remove")
        return 0
    print(
        f"removed the step cache {folder} ({freed / 2**20:.1f} MiB); derivatives, twins and reports are kept"
    )
    return 0


def _twin_store(out_dir: str):

    from .errors import MissingFileError
    from .io.derivatives import Derivatives
    from .twin import TwinStore

    path = Derivatives(out_dir).store
    if not path.exists():
        raise MissingFileError(
            f"{path}: no twin store; run 'neurotwin run BIDS {out_dir} participant' first."
        )
    return TwinStore(path, create=False)


def _quality_rows(twin) -> list[dict]:
    """``twin show``'s last rows: the modalities each state used, and its fit quality (per modality)."""
    from .twin.objectives import get_objective

    obj = get_objective(twin.modality, twin.likelihood)
    measures, labels = obj.qualities, obj.quality_parts
    used = {"parameter": "modalities", "unit": ""}
    quality = {"parameter": "fit quality", "unit": "r"}
    for s in twin.states_:
        col = f"ses-{s.session} (day {s.at:g})"
        used[col] = "+".join(s.features.get("modalities") or [twin.modality]) + (
            " (+ volumes)" if s.features.get("volumes") else ""
        )
        cells = []
        for key, floor in measures.items():
            value = s.diagnostics.get(key)
            if value is None:
                continue
            text = f"{value:.3f}" + (" poor" if value < floor else "")
            cells.append(f"{labels[key]} {text}" if len(measures) > 1 else text)
        quality[col] = ", ".join(cells) or "-"
    return [used, quality]


def _head_line(twin) -> str:
    """``twin show``'s line on the EEG/MEG head model: the template's, or the subject's own and its check."""
    from .report._methods import coregistration_text, own_anatomy

    if not twin.states_:
        return ""
    first = twin.states_[0].features
    parts = [first] + [p for p in (first.get("parts") or {}).values() if isinstance(p, dict)]
    head = next((p["head"] for p in parts if p.get("head")), "")
    if not head:
        return ""
    anatomy = own_anatomy(first)
    if anatomy is None:
        return f"head: {head}, in a template head (not the subject's own)"
    return f"head: {head}; the subject's own (transform check: {coregistration_text(anatomy)})"


def _cmd_twin_show(args: argparse.Namespace) -> int:
    import pandas as pd

    twin = _twin_store(args.out_dir).load(args.subject)
    tables = [s.summary(0.9) for s in twin.states_]
    rows, notes = [], []
    for i in range(len(tables[0]) if tables else 0):
        first = tables[0].iloc[i]
        row = {"parameter": first["label"], "unit": first["unit"]}
        for s, t in zip(twin.states_, tables):
            r = t.iloc[i]
            row[f"ses-{s.session} (day {s.at:g})"] = (
                f"{r['median']:.3g} [{r['low']:.3g}, {r['high']:.3g}]" + (" !" if r["note"] else "")
            )
            if r["note"]:
                notes.append(f"  ses-{s.session}: {r['label']} {r['median']:.3g} {r['unit']} is {r['note']}")
        rows.append(row)
    rows += _quality_rows(twin)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 40):
        print(
            f"twin of sub-{args.subject} ({twin.modality}), {len(twin.states_)} session(s); "
            f"parameters: posterior median [90% interval]"
        )
        print(pd.DataFrame(rows).to_string(index=False))
        head = _head_line(twin)
        if head:
            print(head)
        if notes:
            print("\n! implausible values (do not read them as the patient's):\n" + "\n".join(notes))
        vols = twin.volumes()
        if len(vols):
            kept = ", ".join(f"ses-{x}" for x in dict.fromkeys(vols["session"]))
            print(
                f"\nregional volumes kept ({vols['location'].nunique()} regions at {kept}; not fitted): "
                "Twin.volumes() or the report's longitudinal view"
            )
        if len(twin.states_) >= 2:
            span = (twin.states_[-1].at - twin.states_[0].at) or 1.0
            trends = {}
            for name, label, unit in zip(tables[0]["name"], tables[0]["label"], tables[0]["unit"]):
                values = twin.trajectory(name)["value"]
                trends[f"{label}"] = (values.iloc[-1] - values.iloc[0]) / span * 365, unit
            print(
                "\ntrends (change per year, first to last session): "
                + ", ".join(f"{n} {v:+.3g} {u}".rstrip() for n, (v, u) in trends.items())
            )
        ch = twin.changes()
        flagged = ch.query("flagged")
        print(
            f"\nalerts (Benjamini-Hochberg, false discovery rate 5 % over each session's "
            f"{int(ch['n_tests'].max()) if len(ch) else 0} tests): " + ("none" if flagged.empty else "")
        )
        for _, r in flagged.iterrows():
            where = f" at {r['location']}" if r["location"] and r["location"] != "global" else ""
            band = f" ({r['band']})" if r["band"] else ""
            unit = f" {r['unit']}" if r["unit"] not in ("", "1") else ""
            print(
                f"  ses-{r['session']} (day {r['at']:g}): {r['label']}{band}{where} {r['baseline']:.3g} -> "
                f"{r['value']:.3g}{unit} (q = {r['q_value']:.2g}, SE of the difference {r['se']:.2g}, "
                f"between-session SD {r['between_sd']:.2g})"
            )
    return 0


def _cmd_twin_fit(args: argparse.Namespace) -> int:
    from .pipeline._twins import refit_twin

    row = refit_twin(args.out_dir, args.subject, study=args.study, pipeline=args.pipeline)
    if row["status"] != "ok":
        print(f"sub-{args.subject}: twin {row['status']}: {row['error']}")
        return 3
    print(
        f"sub-{args.subject}: {row['modality']} twin refitted from {row['added']} session(s) "
        f"({row['sessions']}) in {row['seconds']:.1f} s"
        + (f"; left out: {row['notes']}" if row["notes"] else "")
    )
    return 0


def _cmd_twin_simulate(args: argparse.Namespace) -> int:
    twin = _twin_store(args.out_dir).load(args.subject)
    set_params = {}
    for item in args.set or []:
        name, _, value = item.partition("=")
        if not value:
            from .errors import ConfigError

            raise ConfigError(f"--set takes NAME=VALUE, got {item!r}.")
        set_params[name] = float(value)
    result = twin.what_if(
        lesion_regions=args.lesion or (),
        silence_regions=args.silence or (),
        coupling_scale=args.coupling_scale,
        set_params=set_params or None,
    )
    band = tuple(args.band)
    table = result.summary(band).sort_values("power_change_pct")
    print(
        f"what-if for sub-{args.subject} ({result.method}): disconnect {args.lesion or '-'}, silence "
        f"{args.silence or '-'}, coupling x"
        f"{args.coupling_scale:g}, set {set_params or '-'}; {band[0]:g}-{band[1]:g} Hz power"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``neurotwin`` command."""
    parser = argparse.ArgumentParser(
        prog="neurotwin", description="Neurological digital twins from EEG, MEG and MRI."
    )
    parser.add_argument("--version", action="version", version=f"neurotwin {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-v info, -vv debug)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="describe a study folder or one recording/volume/connectome")
    info.add_argument("path", help="a BIDS dataset, a folder of recordings, or one file")
    info.add_argument(
        "--pattern", default=None, help="regex with named groups subject/session to map a plain folder"
    )
    info.set_defaults(func=_cmd_info)
    pipe = sub.add_parser("pipeline", help="work with pipeline definitions")
    pipe_sub = pipe.add_subparsers(dest="pipeline_command", required=True)
    check = pipe_sub.add_parser("check", help="validate a pipeline file without running it")
    check.add_argument("file", help="a pipeline definition (.toml)")
    check.set_defaults(func=_cmd_pipeline_check)
    run = sub.add_parser(
        "run",
        help="run a pipeline over a study (BIDS-App style)",
        description="Run a pipeline on every subject/session of a study, writing a BIDS-derivatives "
        "dataset. Exit codes: 0 all done, 2 usage or pipeline-file error (nothing run), "
        "3 some subjects failed, 4 all failed.",
    )
    run.add_argument("bids_root", help="the study: a BIDS dataset or a folder of recordings")
    run.add_argument("out_dir", help="the derivatives folder (created; reruns reuse its cache)")
    run.add_argument(
        "analysis_level",
        choices=["participant", "group"],
        help="participant: process subjects; group: study-level outputs",
    )
    run.add_argument(
        "--participant-label",
        "--participant_label",
        nargs="+",
        default=None,
        help="only these subjects (labels without 'sub-')",
    )
    run.add_argument(
        "--session-label",
        "--session_label",
        nargs="+",
        default=None,
        help="only these sessions (labels without 'ses-')",
    )
    run.add_argument(
        "--pipeline",
        default="resting_eeg",
        help="pipeline file or built-in name (resting_eeg, resting_meg, mri_structural, "
        "rest_fmri); default resting_eeg",
    )
    run.add_argument(
        "--pattern",
        default=None,
        help="regex with named groups subject/session to map a plain (non-BIDS) folder",
    )
    run.add_argument(
        "--task",
        nargs="+",
        default=None,
        help="only recordings of these BIDS tasks (labels or patterns such as 'rest*'; "
        "default: the pipeline's own, rest* for the resting pipelines)",
    )
    run.add_argument("--run", nargs="+", default=None, help="only these BIDS runs")
    run.add_argument(
        "--bids-filter-file",
        default=None,
        help="a JSON file of entity filters per input (fMRIPrep's shape), "
        'e.g. {"eeg": {"task": "rest", "acquisition": null}}',
    )
    run.add_argument(
        "--keep-intermediates",
        action="store_true",
        help="keep every step's result in the cache (default: only what resuming needs)",
    )
    run.add_argument(
        "--no-reports",
        action="store_true",
        help="participant level: write no patient reports (e.g. on a cluster node; a later "
        "run without it writes them from the outputs)",
    )
    run.add_argument("--jobs", "-j", type=int, default=1, help="worker processes on this machine")
    run.add_argument("--scheduler", default=None, help="address of a Dask scheduler (tcp://host:8786)")
    run.add_argument("--dask-workers", type=int, default=None, help="start a local Dask cluster of N workers")
    run.add_argument("--work-dir", default=None, help="step cache (default OUT/.neurotwin/work)")
    run.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "off"],
        default="auto",
        help="progress display (auto: bars on a terminal, lines otherwise)",
    )
    run.set_defaults(func=_cmd_run)
    clean = sub.add_parser(
        "clean",
        help="delete the step cache of a derivatives folder (outputs stay)",
        description="Delete the step cache of 'neurotwin run' (OUT/.neurotwin/work, or "
        "the --work-dir the run was given). Derivatives, the twin store and "
        "reports stay; a rerun recomputes only what is not up to date.",
    )
    clean.add_argument("out_dir", help="the derivatives folder of 'neurotwin run'")
    clean.add_argument("--work-dir", default=None, help="the cache folder, if the run had --work-dir")
    clean.set_defaults(func=_cmd_clean)
    twin = sub.add_parser("twin", help="inspect and query the patients' twins of a derivatives folder")
    twin_sub = twin.add_subparsers(dest="twin_command", required=True)
    show = twin_sub.add_parser("show", help="a twin's states, trends and alerts")
    show.add_argument("out_dir", help="the derivatives folder of 'neurotwin run'")
    show.add_argument("subject", help="subject label (without 'sub-')")
    show.set_defaults(func=_cmd_twin_show)
    fit = twin_sub.add_parser(
        "fit",
        help="fit a subject's twin again from every modality's features in a derivatives folder",
        description="Refit the subject's twin from its first session, from the features the folder "
        "holds (every pipeline its [twin] reads); the stored twin is replaced once the new one is "
        "fitted. Exit codes: 0 done, 2 usage error, 3 the twin could not be fitted.",
    )
    fit.add_argument("out_dir", help="the derivatives folder of 'neurotwin run'")
    fit.add_argument("subject", help="subject label (without 'sub-')")
    fit.add_argument("--study", default=None, help="the raw study (default: the one the folder links to)")
    fit.add_argument(
        "--pipeline", default=None, help="a pipeline with a [twin] table (default: the folder's own)"
    )
    fit.set_defaults(func=_cmd_twin_fit)
    sim = twin_sub.add_parser("simulate", help="run a twin's model with a change (what-if) against itself")
    sim.add_argument("out_dir", help="the derivatives folder of 'neurotwin run'")
    sim.add_argument("subject", help="subject label (without 'sub-')")
    sim.add_argument(
        "--lesion",
        nargs="+",
        default=None,
        help="regions to disconnect: their connections cut, they keep oscillating (labels)",
    )
    sim.add_argument(
        "--silence",
        nargs="+",
        default=None,
        help="regions to silence: clamped to rest, connections kept (labels)",
    )
    sim.add_argument("--coupling-scale", type=float, default=1.0, help="factor on the global coupling G")
    sim.add_argument(
        "--set", nargs="+", default=None, metavar="NAME=VALUE", help="model parameters to change, e.g. f=9.0"
    )
    sim.add_argument(
        "--band",
        nargs=2,
        type=float,
        default=[8.0, 13.0],
        metavar=("FMIN", "FMAX"),
        help="band of the power change (default 8 13 Hz)",
    )
    sim.set_defaults(func=_cmd_twin_simulate)
    return parser


def _public_command(args: argparse.Namespace, argv: list[str]) -> str:
    """The command line as reports and logs show it: no folder paths (they may name a person or a hospital).

    The study and output folders become ``BIDS_ROOT``/``OUT_DIR`` (and
    ``WORK_DIR``); a pipeline file keeps its file name.
    """
    roles = {}
    for attr, label in (("bids_root", "BIDS_ROOT"), ("out_dir", "OUT_DIR"), ("work_dir", "WORK_DIR")):
        value = getattr(args, attr, None)
        if value:
            roles[value] = label
    pipeline = getattr(args, "pipeline", None)
    if pipeline and ("/" in pipeline or os.sep in pipeline):
        roles[pipeline] = Path(pipeline).name
    return " ".join(["neurotwin", *(roles.get(a, a) for a in argv)])


def main(argv: list[str] | None = None) -> int:
    """Run the ``neurotwin`` command; return the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_line = _public_command(args, argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    set_log_level({0: "warning", 1: "info"}.get(args.verbose, "debug"))
    try:
        return args.func(args)
    except NeurotwinError as err:
        print(f"neurotwin: error: {err}", file=sys.stderr)
        return 2
    finally:
        logger.removeHandler(handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
