"""Features of preprocessed recordings: spectra, aperiodic fits, IAF (more to come).

Examples
--------
>>> from neurotwin.features import FEATURES
>>> sorted(FEATURES)[:3]
['aperiodic', 'band_power', 'iaf']
"""

from . import aperiodic as _aperiodic  # noqa: F401 - registers its features
from . import spectral as _spectral  # noqa: F401 - registers its features
from .compute import DEFAULT_FEATURES, compute_features
from .context import DEFAULT_BANDS, Context
from .featureset import COLUMNS, FeatureArray, FeatureSet, concat, read_featureset
from .registry import FEATURES, FeatureSpec, register_feature

__all__ = ["COLUMNS", "DEFAULT_BANDS", "DEFAULT_FEATURES", "FEATURES", "Context", "FeatureArray",
           "FeatureSet", "FeatureSpec", "compute_features", "concat", "read_featureset", "register_feature"]
