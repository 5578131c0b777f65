"""The neurological digital twin: per-patient fits with uncertainty, longitudinal updates, a durable store.

Examples
--------
>>> from neurotwin.twin import Twin
>>> Twin("01", modality="bold").modality
'bold'
"""

from .inference import Posterior, Prior, fit_map
from .longitudinal import changes, forecast, trajectory
from .population import PopulationPrior
from .state import TwinState
from .store import SCHEMA_VERSION, ConcurrentUpdate, TwinStore, update_twin
from .twin import CHANGE_THRESHOLDS, Twin
from .variability import DEFAULT_SD, Variability, estimate_variability

__all__ = [
    "CHANGE_THRESHOLDS",
    "DEFAULT_SD",
    "SCHEMA_VERSION",
    "ConcurrentUpdate",
    "PopulationPrior",
    "Posterior",
    "Prior",
    "Twin",
    "TwinState",
    "TwinStore",
    "Variability",
    "changes",
    "estimate_variability",
    "fit_map",
    "forecast",
    "trajectory",
    "update_twin",
]
