"""Step cache keys, file fingerprints and atomic writes.

A step's cache key is the SHA-256 of the previous key (its input), the
step's name, its ``version`` and the parameters it reads; the first key
is that of the input file's content and the reading options. Each cached
result is a directory written under a temporary name and renamed into
place, so an interrupted run never leaves a half-written result where a
later run would find it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 22


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (of every file below it, for folder formats)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fid:
            while chunk := fid.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def chain_key(previous: str, name: str, version: int, params: dict) -> str:
    """Cache key of a step given its input's key.

    Examples
    --------
    >>> from neurotwin.pipeline._cache import chain_key
    >>> a = chain_key("0" * 64, "bandpass", 1, {"l_freq": 1.0, "h_freq": 45.0})
    >>> a == chain_key("0" * 64, "bandpass", 1, {"h_freq": 45.0, "l_freq": 1.0})
    True
    >>> a == chain_key("0" * 64, "bandpass", 1, {"l_freq": 2.0, "h_freq": 45.0})
    False
    """
    blob = json.dumps({"in": previous, "step": name, "version": version, "params": params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``final``; rename it to ``final`` on success.

    On any error (or Ctrl-C) the temporary folder is removed and ``final``
    is left as it was.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_files(folder: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success move each file in it into ``folder``.

    Every file appears complete or not at all (``os.replace``); write the
    file that marks a result as done (its JSON sidecar) last.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        yield tmp
        names = sorted(p.name for p in tmp.iterdir())
        names.sort(key=lambda n: n.endswith(".json"))  # sidecars last
        for name in names:
            os.replace(tmp / name, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def clean_temporaries(root: Path) -> int:
    """Remove ``.tmp-*`` folders left below ``root`` by a killed run; return how many."""
    n = 0
    if root.is_dir():
        for tmp in root.rglob(".tmp-*"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
                n += 1
    return n
