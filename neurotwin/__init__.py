"""neurotwin: neurological digital twins from EEG, MEG and MRI."""

__version__ = "0.1.0.dev0"

from . import datasets, errors, io
from ._logging import set_log_level
from .errors import ConfigError, DataError, NeurotwinError

__all__ = ["ConfigError", "DataError", "NeurotwinError", "__version__", "datasets", "errors", "io",
           "set_log_level"]
