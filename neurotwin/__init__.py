"""neurotwin: neurological digital twins from EEG, MEG and MRI.

The subpackages (``io``, ``features``, ``pipeline``, ``model``, ``twin``,
``report``, ``datasets``) and the most used names (``Twin``, ``TwinStore``,
``read_raw``, ``read_eeg``, ``discover_study``, ``compute_features``) are
imported on first use, so that ``import neurotwin`` and
``neurotwin --version`` stay fast.

Examples
--------
>>> import neurotwin as nt
>>> nt.Twin.__name__, nt.read_raw.__module__
('Twin', 'neurotwin.io.raw')
"""

import importlib

__version__ = "0.1.0.dev0"

from . import errors
from ._logging import set_log_level
from .errors import ConfigError, DataError, NeurotwinError

_SUBPACKAGES = ("datasets", "features", "io", "model", "pipeline", "report", "twin")
_NAMES = {
    "Twin": "twin",
    "TwinStore": "twin",
    "read_raw": "io",
    "read_eeg": "io",
    "read_meg": "io",
    "read_mri": "io",
    "discover_study": "io",
    "compute_features": "features",
}

__all__ = [
    "ConfigError",
    "DataError",
    "NeurotwinError",
    "__version__",
    "errors",
    "set_log_level",
    *_SUBPACKAGES,
    *_NAMES,
]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'neurotwin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
