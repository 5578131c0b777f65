"""Exceptions raised by neurotwin.

Every error that neurotwin raises on purpose derives from
:class:`NeurotwinError`, so ``except NeurotwinError`` catches all of them and
nothing else. The subclasses also derive from the matching built-in
exception (``ValueError``, ``FileNotFoundError``, ...) so that code written
against the built-ins keeps working.

Messages name the file or parameter at fault and say what to do instead.

Examples
--------
>>> from neurotwin.errors import DataError, NeurotwinError
>>> issubclass(DataError, NeurotwinError)
True
"""

from __future__ import annotations

__all__ = [
    "NeurotwinError",
    "DataError",
    "MissingFileError",
    "UnsupportedFormatError",
    "ConfigError",
    "NoPositionsError",
    "FitError",
    "StoreError",
]


class NeurotwinError(Exception):
    """Base class of all errors neurotwin raises on purpose."""


class DataError(NeurotwinError, ValueError):
    """An input file or array is damaged, empty or not what it claims to be."""


class NoPositionsError(DataError):
    """EEG/MEG channels cannot be placed on a head: no positions in the recording and no standard names."""


class MissingFileError(DataError, FileNotFoundError):
    """An input path does not exist or is not a regular file."""


class UnsupportedFormatError(DataError):
    """No reader is registered for a file's type."""


class ConfigError(NeurotwinError, ValueError):
    """A parameter or a pipeline definition is invalid."""


class FitError(NeurotwinError, RuntimeError):
    """A model or twin could not be fitted."""


class StoreError(NeurotwinError, RuntimeError):
    """The twin store could not be read or written."""
