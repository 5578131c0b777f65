"""Features: spectra, aperiodic fits, IAF, connectivity, graph, complexity, MRI.

Examples
--------
>>> from neurotwin.features import FEATURES
>>> [name for name in ("iaf", "connectivity", "graph", "complexity") if name in FEATURES]
['iaf', 'connectivity', 'graph', 'complexity']
"""

from . import aperiodic as _aperiodic  # noqa: F401 - registers its features
from . import complexity as _complexity  # noqa: F401 - registers its features
from . import connectivity as _connectivity  # noqa: F401 - registers its features
from . import csd as _csd  # noqa: F401 - registers its features
from . import graph as _graph  # noqa: F401 - registers its features
from . import mri as _mri  # noqa: F401 - registers its features
from . import spectral as _spectral  # noqa: F401 - registers its features
from .compute import DEFAULT_FEATURES, compute_features
from .context import DEFAULT_BANDS, Context
from .featureset import COLUMNS, FeatureArray, FeatureSet, concat, read_featureset
from .registry import FEATURES, FeatureSpec, register_feature

__all__ = [
    "COLUMNS",
    "DEFAULT_BANDS",
    "DEFAULT_FEATURES",
    "FEATURES",
    "Context",
    "FeatureArray",
    "FeatureSet",
    "FeatureSpec",
    "compute_features",
    "concat",
    "read_featureset",
    "register_feature",
]
