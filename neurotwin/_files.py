"""File helpers every layer uses: a file's fingerprint and atomic writes (nothing is ever half-written).

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from neurotwin._files import atomic_files, file_sha256
>>> folder = Path(tempfile.mkdtemp())
>>> with atomic_files(folder) as tmp:
...     _ = (tmp / "a.txt").write_text("done")
>>> import hashlib
>>> file_sha256(folder / "a.txt") == hashlib.sha256(b"done").hexdigest()
True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "atomic_files", "file_sha256"]

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
