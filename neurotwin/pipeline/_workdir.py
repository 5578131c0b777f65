"""The step cache's folder: marking it, measuring it, dropping it (``neurotwin clean``).

The cache (``OUT/.neurotwin/work`` unless ``--work-dir`` says otherwise)
holds, per recording and step, the step's log and, for the last step a
run completed (and each step whose result is an output, which shares its
file with the derivative), its data: what resuming needs. With
``keep_intermediates`` every step's data stays, so that changing a late
step's parameters reuses the earlier steps. A marker file tells a cache
folder from any other, so that :func:`clean_work` never deletes a folder
neurotwin did not make.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import ConfigError
from ..io.derivatives import Derivatives

__all__ = ["clean_work", "default_work_dir", "folder_bytes", "mark_work"]

MARKER = ".neurotwin-cache"


def default_work_dir(out: Path) -> Path:
    """``OUT/.neurotwin/work``."""
    return Derivatives(out).work


def mark_work(work: Path) -> None:
    """Create the cache folder with its marker (idempotent)."""
    work.mkdir(parents=True, exist_ok=True)
    marker = work / MARKER
    if not marker.is_file():
        marker.write_text("neurotwin step cache: safe to delete ('neurotwin clean OUT')\n")


def folder_bytes(path: Path) -> int:
    """Bytes of the files below ``path``, each inode counted once (hard links share their blocks)."""
    seen, total = set(), 0
    if not path.exists():
        return 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def clean_work(
    out_dir: str | os.PathLike, work_dir: str | os.PathLike | None = None
) -> tuple[Path, int | None]:
    """Delete a run's step cache (and the reports' figure cache); the derivatives, twin store and reports
    stay.

    A later run recomputes what it needs (a run with nothing to do needs
    nothing: its outputs are up to date).

    Parameters
    ----------
    out_dir : path
        The derivatives folder.
    work_dir : path | None
        The cache folder if the run had ``--work-dir`` (default
        ``OUT/.neurotwin/work``).

    Returns
    -------
    folder : Path
        The folder removed.
    freed : int | None
        Bytes freed; None when there was no cache.

    Raises
    ------
    neurotwin.errors.ConfigError
        If ``work_dir`` is not a neurotwin cache (no marker file): nothing
        is deleted.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> mark_work(default_work_dir(out))
    >>> folder, freed = clean_work(out)
    >>> folder.exists(), freed > 0
    (False, True)
    """
    out = Path(out_dir)
    work = Path(work_dir) if work_dir is not None else default_work_dir(out)
    figures = Derivatives(out).figure_cache  # the reports' drawn QC figures go with it
    if not work.exists() and not figures.exists():
        return work, None
    if work.exists() and not (work / MARKER).is_file() and work != default_work_dir(out):
        raise ConfigError(f"{work}: not a neurotwin step cache (no {MARKER} file in it); nothing deleted.")
    freed = folder_bytes(work) + folder_bytes(figures)
    for folder in (work, figures):
        if folder.exists():
            shutil.rmtree(folder)
    return work, freed
