"""The ``neurotwin`` command line."""

from __future__ import annotations

import argparse
import logging
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
        print(f"{path.name}: {spec.name}, {raw.times[-1] + 1 / raw.info['sfreq']:.1f} s at "
              f"{raw.info['sfreq']:g} Hz, channels {types}, bads {raw.info['bads']}, "
              f"{len(raw.annotations)} annotations")
    elif spec.modality == "mri":
        info = inspect_mri(read_mri(path))
        extra = f", TR {info.tr:g} s" if info.tr else ""
        extra += f", {len(info.labels)} labels" if info.labels else ""
        print(f"{path.name}: {spec.name} {info.kind}, shape {info.shape}, voxels {info.voxel_size} mm{extra}")
    else:
        print(repr(read_connectome(path)))
    return 0


def _cmd_pipeline_check(args: argparse.Namespace) -> int:
    from .pipeline import load_config

    cfg = load_config(args.file)
    print(f"{args.file}: valid {cfg.pipeline.modality} pipeline {cfg.pipeline.name!r} with "
          f"{len(cfg.steps)} steps: {', '.join(s.step for s in cfg.steps)}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import pandas as pd

    from .io import discover_study
    from .pipeline import load

    pipe = load(args.pipeline)  # a bad pipeline file stops here, before any work
    if args.analysis_level == "group":
        for path in pipe.group(args.out_dir):
            print(f"wrote {path}")
        return 0
    study = discover_study(args.bids_root, pattern=args.pattern)
    result = pipe.run(study, args.out_dir, participant_label=args.participant_label,
                      session_label=args.session_label, jobs=args.jobs, scheduler=args.scheduler,
                      dask_workers=args.dask_workers, work_dir=args.work_dir, progress=args.progress)
    table = result.summary()
    table["session"] = table["session"].replace("", "-")
    with pd.option_context("display.max_rows", 1000, "display.width", 250, "display.max_colwidth", 120):
        print(table.drop(columns="error").to_string(index=False))
    failed = table[table["status"] == "failed"]
    if not failed.empty:
        print(f"\n{len(failed)} recording(s) failed:")
        for _, row in failed.iterrows():
            print(f"  {row['source']}: {row['error']}")
    print(f"\n{len(result.tasks)} subject/session tasks, {result.n_failed} failed, "
          f"{result.executed} steps run in {result.seconds:.1f} s; outputs in {result.out_dir}")
    return result.exit_code


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``neurotwin`` command."""
    parser = argparse.ArgumentParser(
        prog="neurotwin", description="Neurological digital twins from EEG, MEG and MRI."
    )
    parser.add_argument("--version", action="version", version=f"neurotwin {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="describe a study folder or one recording/volume/connectome")
    info.add_argument("path", help="a BIDS dataset, a folder of recordings, or one file")
    info.add_argument("--pattern", default=None,
                      help="regex with named groups subject/session to map a plain folder")
    info.set_defaults(func=_cmd_info)
    pipe = sub.add_parser("pipeline", help="work with pipeline definitions")
    pipe_sub = pipe.add_subparsers(dest="pipeline_command", required=True)
    check = pipe_sub.add_parser("check", help="validate a pipeline file without running it")
    check.add_argument("file", help="a pipeline definition (.toml)")
    check.set_defaults(func=_cmd_pipeline_check)
    run = sub.add_parser(
        "run", help="run a pipeline over a study (BIDS-App style)",
        description="Run a pipeline on every subject/session of a study, writing a BIDS-derivatives "
                    "dataset. Exit codes: 0 all done, 2 usage or pipeline-file error (nothing run), "
                    "3 some subjects failed, 4 all failed.")
    run.add_argument("bids_root", help="the study: a BIDS dataset or a folder of recordings")
    run.add_argument("out_dir", help="the derivatives folder (created; reruns reuse its cache)")
    run.add_argument("analysis_level", choices=["participant", "group"],
                     help="participant: process subjects; group: study-level outputs")
    run.add_argument("--participant-label", "--participant_label", nargs="+", default=None,
                     help="only these subjects (labels without 'sub-')")
    run.add_argument("--session-label", "--session_label", nargs="+", default=None,
                     help="only these sessions (labels without 'ses-')")
    run.add_argument("--pipeline", default="resting_eeg",
                     help="pipeline file or built-in name (resting_eeg, resting_meg, mri_structural, "
                          "rest_fmri); default resting_eeg")
    run.add_argument("--pattern", default=None,
                     help="regex with named groups subject/session to map a plain (non-BIDS) folder")
    run.add_argument("--jobs", "-j", type=int, default=1, help="worker processes on this machine")
    run.add_argument("--scheduler", default=None, help="address of a Dask scheduler (tcp://host:8786)")
    run.add_argument("--dask-workers", type=int, default=None, help="start a local Dask cluster of N workers")
    run.add_argument("--work-dir", default=None, help="step cache (default OUT/.neurotwin/work)")
    run.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default="auto",
                     help="progress display (auto: bars on a terminal, lines otherwise)")
    run.set_defaults(func=_cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``neurotwin`` command; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
