"""Which of a study's recordings a run takes: the pipeline's tasks, ``--task``/``--run``, a BIDS filter file.

A pipeline declares the tasks it is made for (``[pipeline] tasks``, shell
patterns: ``resting_eeg`` takes ``rest*``); ``--task`` replaces them and
``--run`` keeps only the given runs. A ``--bids-filter-file`` is a JSON
object in fMRIPrep's shape: one query per kind of input, named by its
suffix or datatype (``"eeg"``, ``"meg"``, ``"bold"``, ``"t1w"``,
``"dseg"``), each mapping BIDS entities (``session``, ``task``,
``acquisition``, ``run``, ...) to a value, a list of values, or ``null``
(the entity must be absent)::

    {"eeg": {"task": "rest", "acquisition": null, "run": [1, 2]}}

Queries for other inputs are ignored (one file can serve several
pipelines). Every recording left out is reported with the reason.
"""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from ..io.bids import name_entities

__all__ = ["read_bids_filter", "select_recordings"]

# BIDS entities by their long names (pybids' and mne-bids'), to the short key of file names
_ENTITIES = {
    "subject": "sub",
    "session": "ses",
    "task": "task",
    "acquisition": "acq",
    "ceagent": "ce",
    "reconstruction": "rec",
    "direction": "dir",
    "run": "run",
    "processing": "proc",
    "recording": "recording",
    "space": "space",
    "split": "split",
    "echo": "echo",
    "description": "desc",
    "tracer": "trc",
    "modality": "mod",
}


def read_bids_filter(source: str | os.PathLike | dict) -> dict[str, dict]:
    """Read and check a BIDS filter (fMRIPrep's ``--bids-filter-file`` shape).

    Parameters
    ----------
    source : path | dict
        A JSON file, or the object itself.

    Returns
    -------
    dict
        ``{query (lower case): {entity long name: None | list of str}}``.

    Raises
    ------
    neurotwin.errors.ConfigError
        If the file is missing or not JSON, or names an unknown entity.

    Examples
    --------
    >>> read_bids_filter({"eeg": {"task": "rest", "run": [1, 2], "acquisition": None}})
    {'eeg': {'task': ['rest'], 'run': ['1', '2'], 'acquisition': None}}
    """
    where = "the BIDS filter"
    if not isinstance(source, dict):
        where = str(source)
        try:
            source = json.loads(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such BIDS filter file.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"{where}: not a readable JSON file ({err}).") from None
    if not isinstance(source, dict) or not all(isinstance(v, dict) for v in source.values()):
        raise ConfigError(f'{where}: must be a JSON object of queries, e.g. {{"eeg": {{"task": "rest"}}}}.')
    out = {}
    for query, entities in source.items():
        checked = {}
        for name, value in entities.items():
            key = name.lower()
            if key not in _ENTITIES:
                raise ConfigError(
                    f"{where}: query {query!r} names an unknown BIDS entity {name!r} "
                    f"(known: {', '.join(sorted(_ENTITIES))})."
                )
            if value is None:
                checked[key] = None
            elif isinstance(value, (str, int)) and not isinstance(value, bool):
                checked[key] = [str(value)]
            elif isinstance(value, list) and all(
                isinstance(v, (str, int)) and not isinstance(v, bool) for v in value
            ):
                checked[key] = [str(v) for v in value]
            else:
                raise ConfigError(
                    f"{where}: {query}.{name} must be a label, a list of labels or null; got {value!r}."
                )
        out[query.lower()] = checked
    return out


def _same(label: str, wanted: str) -> bool:
    """Labels compare as numbers when both are (``run-01`` is run 1)."""
    if label.isdigit() and wanted.isdigit():
        return int(label) == int(wanted)
    return label == wanted


def select_recordings(
    rows: pd.DataFrame,
    root: Path,
    *,
    tasks=None,
    explicit_task: bool = False,
    runs=None,
    bids_filter: dict | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
    """Keep the recordings a run takes; say why each other one is left out.

    Parameters
    ----------
    rows : DataFrame
        Rows of :attr:`neurotwin.io.Study.recordings` (subject, session,
        datatype, suffix, task, run, path).
    root : Path
        The study root (skipped recordings are named relative to it).
    tasks : list of str | None
        Task labels or shell patterns to keep (None: any). A recording
        without a task label (a plain folder) is kept unless
        ``explicit_task``.
    explicit_task : bool
        Whether ``tasks`` came from the user (``--task``) rather than
        from the pipeline's declaration.
    runs : list of str | None
        Run labels to keep (None: any).
    bids_filter : dict | None
        A :func:`read_bids_filter` result.

    Returns
    -------
    kept : DataFrame
    skipped : list of (subject, session, source, reason)

    Examples
    --------
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> rows = pd.DataFrame({"task": ["rest", "arith"], "run": ["", ""], "suffix": ["eeg", "eeg"],
    ...                      "datatype": ["eeg", "eeg"],
    ...                      "path": ["/s/sub-1/eeg/sub-1_task-rest_eeg.edf",
    ...                               "/s/sub-1/eeg/sub-1_task-arith_eeg.edf"]})
    >>> kept, skipped = select_recordings(rows, Path("/s"), tasks=["rest*"])
    >>> list(kept["task"]), skipped[0][3]
    (['rest'], "task 'arith' is not one of this pipeline's tasks (rest*); --task chooses others")
    """
    keep, skipped = [], []
    for _, row in rows.iterrows():
        path = Path(row["path"])
        source = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
        reason = _reason(row, tasks, explicit_task, runs, bids_filter)
        keep.append(reason is None)
        if reason is not None:
            skipped.append((str(row.get("subject", "")), str(row.get("session", "") or ""), source, reason))
    return rows[keep], skipped


def _reason(row, tasks, explicit_task, runs, bids_filter) -> str | None:
    task = str(row.get("task") or "")
    if tasks:
        shown = ", ".join(tasks)
        if not task and explicit_task:
            return f"no task label (--task {shown})"
        if task and not any(fnmatch.fnmatchcase(task, pat) for pat in tasks):
            return (
                f"task {task!r} is not one of --task {shown}"
                if explicit_task
                else f"task {task!r} is not one of this pipeline's tasks ({shown}); --task chooses others"
            )
    run = str(row.get("run") or "")
    if runs and not any(_same(run, r) for r in runs):
        return f"run {run or '(none)'!r} is not one of --run {', '.join(runs)}"
    if bids_filter:
        names = {str(row.get("suffix") or "").lower(), str(row.get("datatype") or "").lower()} - {""}
        ents = name_entities(row["path"])
        for query, wanted in bids_filter.items():
            if query not in names:
                continue
            for entity, values in wanted.items():
                have = ents.get(_ENTITIES[entity])
                if values is None and have is not None:
                    return f"the BIDS filter's {query!r} query wants no {entity} (it has {have!r})"
                if values is not None and (have is None or not any(_same(have, v) for v in values)):
                    return (
                        f"the BIDS filter's {query!r} query wants {entity} {' or '.join(values)} "
                        f"(it has {have or 'none'})"
                    )
    return None
