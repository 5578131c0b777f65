"""Step cache keys, file fingerprints and atomic writes.

A step's cache key is the SHA-256 of the previous key (its input), the
step's name, its ``version`` and the parameters it reads; the first key
is that of the input file's content and the reading options. Each cached
result is a directory written under a temporary name and renamed into
place, so an interrupted run never leaves a half-written result where a
later run would find it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from .._files import atomic_dir, atomic_files, file_sha256

__all__ = ["atomic_dir", "atomic_files", "chain_key", "clean_temporaries", "file_sha256"]


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


def clean_temporaries(root: Path) -> int:
    """Remove ``.tmp-*`` folders left below ``root`` by a killed run; return how many."""
    n = 0
    if root.is_dir():
        for tmp in root.rglob(".tmp-*"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
                n += 1
    return n
