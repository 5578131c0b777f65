"""Registry of file readers, keyed by file extension.

A reader is one function plus one :func:`register_reader` line; the
contract check :func:`neurotwin.testing.check_reader` runs over every entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MissingFileError, UnsupportedFormatError


@dataclass(frozen=True)
class ReaderSpec:
    """One registered file format.

    Attributes
    ----------
    name : str
        Human-readable format name, e.g. ``"EDF"``.
    extensions : tuple of str
        Lower-case extensions including the dot (``".edf"``, ``".nii.gz"``).
    modality : str
        ``"ephys"`` (EEG/MEG/iEEG, read to :class:`mne.io.Raw`), ``"mri"``
        (nibabel image) or ``"connectome"``.
    read : callable
        ``read(path, **kwargs)`` returning the loaded object.
    check : callable | None
        ``check(path)`` raising :class:`~neurotwin.errors.DataError` on a
        damaged file before the reader runs (cheap: header and size only).
    kwargs : dict
        Default keyword arguments for ``read`` (format quirks).
    is_dir : bool
        True for formats stored as a folder (CTF ``.ds``, EGI ``.mff``).

    Examples
    --------
    >>> from neurotwin.io import match_reader
    >>> spec = match_reader("rec.cnt")
    >>> spec.name, spec.modality, spec.kwargs
    ('CNT', 'ephys', {'data_format': 'int16'})
    """

    name: str
    extensions: tuple[str, ...]
    modality: str
    read: Callable[..., Any]
    check: Callable[[Path], None] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    is_dir: bool = False


_READERS: list[ReaderSpec] = []


def register_reader(spec: ReaderSpec) -> ReaderSpec:
    """Add a reader to the registry (later registrations win on conflicts).

    Parameters
    ----------
    spec : ReaderSpec
        The format description.

    Returns
    -------
    spec : ReaderSpec
        The same object, for chaining.

    Examples
    --------
    A plugin module registers its format once, at import::

        from neurotwin.io import ReaderSpec, register_reader

        def read_toy(path, **kwargs):
            ...  # return an mne.io.Raw

        register_reader(ReaderSpec("Toy", (".toy",), "ephys", read=read_toy))
    """
    _READERS.insert(0, spec)
    return spec


def registered_readers(modality: str | None = None) -> list[ReaderSpec]:
    """Return registered readers, optionally of one modality.

    Parameters
    ----------
    modality : str | None
        ``"ephys"``, ``"mri"`` or ``"connectome"``; None for all.

    Returns
    -------
    readers : list of ReaderSpec
        Most recently registered first.

    Examples
    --------
    >>> from neurotwin.io import registered_readers
    >>> sorted(r.name for r in registered_readers("mri"))
    ['MGH', 'NIfTI']
    """
    return [r for r in _READERS if modality is None or r.modality == modality]


def match_reader(fname: str | os.PathLike, modality: str | None = None) -> ReaderSpec | None:
    """Return the reader whose extension ``fname`` ends with, or None.

    Looks at the name only (the path need not exist).

    Examples
    --------
    >>> from neurotwin.io import match_reader
    >>> match_reader("sub-01_eeg.vhdr").name
    'BrainVision'
    """
    name = Path(fname).name.lower()
    return next(
        (s for s in registered_readers(modality) for ext in s.extensions if name.endswith(ext)),
        None,
    )


def find_reader(fname: str | os.PathLike, modality: str | None = None) -> ReaderSpec:
    """Return the reader for ``fname``, checking that the path is usable.

    Parameters
    ----------
    fname : str | os.PathLike
        The file (or folder, for CTF/EGI) to read.
    modality : str | None
        Restrict to one modality.

    Returns
    -------
    spec : ReaderSpec
        The matching reader.

    Raises
    ------
    MissingFileError
        If the path does not exist (checked first), or is a folder where
        the format is a file (or the reverse).
    UnsupportedFormatError
        If no registered reader handles the extension (for ``modality``).

    Examples
    --------
    >>> from neurotwin.io import find_reader
    >>> find_reader("missing.edf")
    Traceback (most recent call last):
    ...
    neurotwin.errors.MissingFileError: missing.edf: no such file or folder. Check the path and spelling.
    """
    path = Path(fname)
    if not path.exists():
        raise MissingFileError(f"{path}: no such file or folder. Check the path and spelling.")
    spec = match_reader(path, modality)
    if spec is None:
        exts = sorted({e for s in registered_readers(modality) for e in s.extensions})
        other = match_reader(path)
        suffix = "".join(path.suffixes[-2:]).lower() or "(no extension)"
        extra = (
            f" It is a {other.name} file ({other.modality}); use the {other.modality} reader instead."
            if other is not None
            else ""
        )
        raise UnsupportedFormatError(
            f"{path}: no reader for files ending in {suffix!r}. Supported: {', '.join(exts)}.{extra}"
        )
    if spec.is_dir and not path.is_dir():
        raise MissingFileError(f"{path}: {spec.name} data must be a folder.")
    if not spec.is_dir and not path.is_file():
        raise MissingFileError(f"{path}: is a folder, not a {spec.name} file. Pass the file itself.")
    return spec


def supported_formats():
    """Return the table of supported formats.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``format``, ``extensions``, ``modality``.

    Examples
    --------
    >>> from neurotwin.io import supported_formats
    >>> "EDF" in supported_formats()["format"].tolist()
    True
    """
    import pandas as pd

    rows = [
        {"format": s.name, "extensions": " ".join(s.extensions), "modality": s.modality}
        for s in reversed(_READERS)
    ]
    return pd.DataFrame(rows)
