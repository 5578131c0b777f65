"""Running a pipeline on one subject/session: the unit of work of every backend.

:func:`run_task` is a plain top-level function of picklable arguments, so
the serial loop, the process pool and Dask workers all run exactly the
same code. It never raises for bad data: a recording that fails is
reported in the result with its reason, and the others go on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .._keys import deid_key, key_check
from .._logging import logger, use_log_level
from ..errors import DataError, NeurotwinError
from ..io import read_mri, read_raw
from ..io.bids import read_bids_tsv
from ..io.bids_raw import bids_readable, bids_sidecars
from ..io.derivatives import output_desc
from . import _artifacts
from ._cache import atomic_dir, atomic_files, chain_key, file_sha256
from .config import PipelineConfig

_READER_VERSION = 3  # bump when reading (standardisation, de-identification) changes results


@dataclass(frozen=True)
class Recording:
    """One input file of a task, with what the steps need besides it."""

    path: str
    source: str  # path relative to the study root (no identifying parts)
    entities: tuple[tuple[str, str], ...]  # BIDS entities in order (sub, ses, task, acq, run, ...)
    datatype: str
    suffix: str
    inputs: tuple[tuple[int, str, str], ...] = ()  # (step index, argument, path)
    error: str | None = None  # a problem found while planning (e.g. a missing label volume)
    bids_root: str | None = None  # the dataset's root when it is BIDS: read with its sidecars (mne-bids)


@dataclass(frozen=True)
class Task:
    """All recordings of one subject/session for one pipeline."""

    subject: str
    session: str | None
    recordings: tuple[Recording, ...]
    config: PipelineConfig
    out_dir: str
    work_dir: str
    log_level: int = 30
    keep_intermediates: bool = False  # keep every step's data in the cache, not only what resuming needs

    @property
    def label(self) -> str:
        """``sub-X[ ses-Y]``."""
        return f"sub-{self.subject}" + (f" ses-{self.session}" if self.session else "")


@dataclass
class TaskResult:
    """What happened to one task."""

    subject: str
    session: str | None
    status: str = "ok"  # ok | failed
    recordings: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def executed(self) -> int:
        """Number of step executions (0: everything came from the cache)."""
        return sum(len(r.get("executed", [])) for r in self.recordings)

    @property
    def errors(self) -> list[str]:
        """The failure reasons of this task's recordings."""
        return [f"{r['source']}: {r['error']}" for r in self.recordings if r.get("error")]


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _dumps(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n"


def _fingerprint(path: Path) -> str:
    """Hash of an input file and, when present, its BIDS ``.tsv`` sidecar of the same stem."""
    h = file_sha256(path)
    tsv = path.with_name(path.name.split(".")[0] + ".tsv")
    return h + (file_sha256(tsv) if tsv.is_file() and tsv != path else "")


def _sidecar_tsv(path: Path, suffix: str) -> Path | None:
    """The BIDS ``_<suffix>.tsv`` (``channels``, ``events``) of a recording, if any."""
    stem = re.sub(r"_(eeg|meg|ieeg)$", "", path.name.split(".")[0])
    tsv = path.with_name(f"{stem}_{suffix}.tsv")
    return tsv if tsv.is_file() else None


def _trial_types(path: Path) -> tuple[str, ...]:
    """The study's event labels (``trial_type`` of the recording's events.tsv), kept by de-identification."""
    tsv = _sidecar_tsv(path, "events")
    if tsv is None:
        return ()
    table = read_bids_tsv(tsv)
    return tuple(sorted(set(table["trial_type"]) - {"", "n/a"})) if "trial_type" in table else ()


def _read_input(rec: Recording, kind: str, task: Task):
    path = Path(rec.path)
    if kind == "raw":  # de-identified with the study's key (the date shift)
        raw = read_raw(
            path,
            subject=task.subject,
            keep_annotations=_trial_types(path),
            bids_root=rec.bids_root,
            secret=deid_key(out_dir=task.out_dir),
            verbose=False,
        )
        tsv = _sidecar_tsv(path, "channels")
        if tsv is not None and not (rec.bids_root and bids_readable(path)):  # read without mne-bids:
            # channels marked bad by the lab stay bad
            table = read_bids_tsv(tsv)
            if {"name", "status"} <= set(table.columns):
                bads = [n for n, s in zip(table["name"], table["status"]) if s.lower() == "bad"]
                raw.info["bads"] = sorted(
                    set(raw.info["bads"]) | {b for b in bads if b in raw.ch_names}, key=raw.ch_names.index
                )
        return raw
    return read_mri(path, verbose=False)


def input_key(rec: Recording, kind: str, out_dir: str | None = None) -> str:
    """Cache key of a recording as read (file content, sidecars, reading options, and a check value of the
    de-identification key: another key shifts the dates differently)."""
    path = Path(rec.path)
    extra = ""
    if kind == "raw" and rec.bids_root and bids_readable(path):  # every sidecar mne-bids may apply
        extra = "".join(f.name + file_sha256(f) for f in bids_sidecars(path, Path(rec.bids_root)))
    elif kind == "raw":
        sidecars = (_sidecar_tsv(path, "channels"), _sidecar_tsv(path, "events"))
        extra = "".join(file_sha256(tsv) for tsv in sidecars if tsv)
    options = {"kind": kind}
    if kind == "raw":
        options["key"] = key_check(deid_key(out_dir=out_dir))
    return chain_key(file_sha256(path) + extra, "read", _READER_VERSION, options)


def derivative_name(rec: Recording, cfg: PipelineConfig, kind: str, step) -> tuple[str, str]:
    """``(folder relative to OUT, file name)`` of a recording's final output."""
    ents = dict(rec.entities)
    parts = [f"{k}-{v}" for k, v in rec.entities if k != "desc"]
    # keep the input's own description: desc-aseg -> desc-asegVolumes
    parts.append(f"desc-{output_desc(cfg.pipeline.desc, ents.get('desc'))}")
    suffix = (
        getattr(step, "out_suffix", None)
        or {
            "raw": rec.datatype,
            "epochs": "epo",
            "image": rec.suffix,
            "timeseries": "timeseries",
            "table": "table",
        }[kind]
    )
    ending = {"raw": ".fif", "epochs": ".fif", "image": ".nii.gz"}.get(kind, ".tsv")
    folder = f"sub-{ents['sub']}" + (f"/ses-{ents['ses']}" if "ses" in ents else "") + f"/{rec.datatype}"
    return folder, "_".join(parts) + f"_{suffix}{ending}"


def _cache_dir(task: Task, rec: Recording, index: int, name: str, key: str) -> Path:
    stem = Path(rec.path).name.split(".")[0]
    base = Path(task.work_dir) / f"sub-{task.subject}" / (f"ses-{task.session}" if task.session else "_")
    return base / stem / f"{index:02d}-{name}-{key[:20]}"


def _prune(entry: Path) -> None:
    """Remove older cache entries of the same step slot (keeps disk use bounded)."""
    prefix = entry.name.rsplit("-", 1)[0] + "-"
    for other in entry.parent.glob(prefix + "*"):
        if other != entry and other.is_dir() and not other.name.startswith(".tmp-"):
            shutil.rmtree(other, ignore_errors=True)


def _resume(entries: list, kinds: list[str], rec: Recording, task: Task):
    """``(index of the last cached step, its data, the file they came from)``; ``(0, None, None)``
    when nothing is cached. Only a complete chain of cached steps counts, and only one whose
    data are still there (see :func:`_drop_intermediates`)."""
    for i in range(len(entries) - 1, 0, -1):
        if all((entries[j] / "log.json").is_file() for j in range(1, i + 1)):
            found = _data_at(entries, kinds, i, rec, task)
            if found is not None:
                return (i, *found)
    return 0, None, None


def _unchanged(entry: Path) -> bool:
    """Whether a cache entry is that of a step that changed nothing (its log alone)."""
    try:
        return bool(json.loads((entry / "log.json").read_text()).get("unchanged"))
    except (OSError, ValueError):
        return False


def _drop_intermediates(entries: list, last: int, keep: set[int], current: Path | None) -> None:
    """Remove the data of cache entries before ``last`` (their logs stay), except the file the data in
    hand came from (``current``: MNE keeps a recording's file name and checks it), and those of the
    entries in ``keep`` whose file the derivatives share (a hard link: no disk of their own)."""
    for j in range(1, last):
        entry = entries[j]
        if not entry.is_dir() or (current is not None and current.parent == entry):
            continue
        for f in entry.iterdir():
            if f.name == "log.json" or not f.is_file():
                continue
            if j in keep and f.stat().st_nlink > 1:
                continue
            f.unlink()


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (same file system), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _data_at(entries: list, kinds: list[str], i: int, rec: Recording, task: Task):
    """The data after step ``i`` (1-based) from the cache and the file they came from, or None
    when the cache no longer holds them.

    Entries of steps that changed nothing hold no data: the data are those
    of the nearest earlier entry with data, or the input itself.
    """
    for j in range(i, 0, -1):
        fname = entries[j] / ("data" + _artifacts.ENDINGS[kinds[j]])
        if fname.is_file():
            return _artifacts.load_data(fname, kinds[j]), fname
        if not _unchanged(entries[j]):  # its data were dropped (or never written): not resumable here
            return None
    return _read_input(rec, kinds[0], task), None


def _sidecar(folder: Path, name: str) -> Path:
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name.rsplit(".", 1)[0]
    return folder / f"{stem}.json"


def _write_output(
    task: Task, rec: Recording, i: int, data, source: Path | None, logs: list[dict], key: str
) -> str:
    """Write step ``i``'s result into the derivatives (atomically); return its content hash."""
    cfg = task.config
    kind = cfg.kinds()[i + 1]
    folder, name = derivative_name(rec, cfg, kind, cfg.steps[i])
    out_folder = Path(task.out_dir) / folder
    content = _artifacts.digest(data)
    meta = {
        "Description": cfg.pipeline.description or cfg.pipeline.name,
        "Sources": [f"bids:raw:{rec.source}"],
        "Pipeline": {"Name": cfg.pipeline.name, "File": Path(cfg.source).name if cfg.source else None},
        "Steps": [
            {"step": s.step, "params": s.params(), "log": {k: v for k, v in lg.items() if k != "seconds"}}
            for s, lg in zip(cfg.steps[: i + 1], logs)
        ],
        "neurotwin": {"Version": __version__, "CacheKey": key, "ContentHash": content},
    }
    with atomic_files(out_folder) as tmp:
        if source is not None and kind in ("raw", "epochs", "image") and source.is_file():
            _link_or_copy(source, tmp / name)  # the cached file is the output: no second write
        else:
            _artifacts.save_data(data, tmp / name)
        side = _sidecar(tmp, name)
        if side.is_file():  # the data's own sidecar (e.g. RepetitionTime): keep it
            meta = {**json.loads(side.read_text()), **meta}
        side.write_text(_dumps(meta))
    return content


def _process_recording(task: Task, rec: Recording, on_step=None) -> dict:
    if rec.error:
        raise DataError(rec.error)
    cfg = task.config
    kinds = cfg.kinds()
    n = len(cfg.steps)
    inputs: dict[int, dict[str, Path]] = {}
    for idx, arg, p in rec.inputs:
        inputs.setdefault(idx, {})[arg] = Path(p)
    keys = [input_key(rec, kinds[0], task.out_dir)]
    for i, step in enumerate(cfg.steps):
        params = step.params()
        if i in inputs:
            params = {**params, "_inputs": {a: _fingerprint(p) for a, p in sorted(inputs[i].items())}}
        keys.append(chain_key(keys[-1], step.step, step.version, params))
    outputs = [i for i, step in enumerate(cfg.steps) if step.save or i == n - 1]
    paths = {i: derivative_name(rec, cfg, kinds[i + 1], cfg.steps[i]) for i in outputs}
    result = {
        "source": rec.source,
        "executed": [],
        "cached": [],
        "outputs": [f"{folder}/{name}" for folder, name in paths.values()],
    }

    def current(i: int) -> str | None:
        """The content hash of output ``i`` if it is there and up to date."""
        folder, name = paths[i]
        side = _sidecar(Path(task.out_dir) / folder, name)
        if not (side.is_file() and (Path(task.out_dir) / folder / name).exists()):
            return None
        try:
            meta = json.loads(side.read_text()).get("neurotwin", {})
        except (OSError, ValueError):
            return None
        return meta.get("ContentHash") if meta.get("CacheKey") == keys[i + 1] else None

    done = {i: current(i) for i in outputs}
    if all(done.values()):
        result.update(status="up to date", content_hash=done[n - 1])
        return result
    entries = [None] + [_cache_dir(task, rec, i + 1, cfg.steps[i].step, keys[i + 1]) for i in range(n)]
    start, data, source = _resume(entries, kinds, rec, task)
    logs = []
    for i in range(start):
        try:
            logs.append(json.loads((entries[i + 1] / "log.json").read_text()))
        except (OSError, ValueError):
            logs.append({})
        result["cached"].append(cfg.steps[i].step)
    for i in [i for i in outputs if i < start and not done[i]]:  # cached results missing as outputs
        found = (data, source) if i + 1 == start else _data_at(entries, kinds, i + 1, rec, task)
        if found is None:  # dropped from the cache: recompute from the start
            start, data, source, logs = 0, None, None, []
            result["cached"] = []
            break
        done[i] = _write_output(task, rec, i, *found, logs[: i + 1], keys[i + 1])
    if data is None:
        data = _read_input(rec, kinds[0], task)
    for i in range(start, n):
        step = cfg.steps[i]
        if on_step is not None:
            on_step(step.step)
        log: dict = {}
        t0 = time.perf_counter()
        data = step.apply(data, log, **inputs.get(i, {}))
        if kinds[i + 1] == "features":  # label the rows with who they describe
            data.table["subject"], data.table["session"] = task.subject, task.session or ""
        log["seconds"] = round(time.perf_counter() - t0, 3)
        logs.append(log)
        result["executed"].append(step.step)
        with atomic_dir(entries[i + 1]) as tmp:
            (tmp / "log.json").write_text(_dumps(log))
            if not log.get("unchanged"):  # an unchanged step's entry is its log alone
                _artifacts.save_data(data, tmp / ("data" + _artifacts.ENDINGS[kinds[i + 1]]))
        _prune(entries[i + 1])
        if not log.get("unchanged"):
            # go on with what was stored (FIF keeps positions in float32): a run resumed from
            # this entry later then computes exactly what this run computes
            source = entries[i + 1] / ("data" + _artifacts.ENDINGS[kinds[i + 1]])
            data = None
            data = _artifacts.load_data(source, kinds[i + 1])
        if not task.keep_intermediates:  # the cache keeps what resuming needs
            _drop_intermediates(entries, i + 1, {j + 1 for j in outputs}, source)
        if i in outputs:
            done[i] = _write_output(task, rec, i, data, source, logs, keys[i + 1])
    result.update(status="ok", content_hash=done[n - 1])
    return result


def run_task(task: Task, on_step=None) -> TaskResult:
    """Run the pipeline on every recording of one task; never raises for bad data.

    BLAS is limited to one thread per task, so results do not depend on
    how many tasks run side by side (and the serial, process-pool and Dask
    runs give the same numbers).
    """
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    out = TaskResult(task.subject, task.session)
    with use_log_level(task.log_level), threadpool_limits(limits=1):
        for rec in task.recordings:
            r0 = time.perf_counter()
            try:
                res = _process_recording(task, rec, on_step)
            except Exception as err:  # bad data, or a library error: only this recording fails
                known = isinstance(err, NeurotwinError)
                reason = (str(err).strip() or type(err).__name__) if known else f"{type(err).__name__}: {err}"
                logger.error("%s: %s failed: %s", task.label, rec.source, reason)
                logger.log(10 if known else 40, "%s", traceback.format_exc())
                res = {
                    "source": rec.source,
                    "status": "failed",
                    "error": reason.splitlines()[0],
                    "executed": [],
                    "cached": [],
                }
                out.status = "failed"
            res["seconds"] = round(time.perf_counter() - r0, 3)
            out.recordings.append(res)
    out.seconds = round(time.perf_counter() - t0, 3)
    return out
