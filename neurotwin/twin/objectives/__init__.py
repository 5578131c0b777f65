"""Twin objectives: one module a modality's likelihood, registered by modality (``OBJECTIVES``).

Examples
--------
>>> from neurotwin.twin.objectives import OBJECTIVES
>>> for m, cls in sorted(OBJECTIVES.items()):
...     print(m, cls.quality)
bold fc_r
eeg r_log_psd
eeg+bold r_log_psd
eeg+meg r_log_psd
eeg+meg+bold r_log_psd
meg r_log_psd
meg+bold r_log_psd
"""

from .base import LIKELIHOODS, OBJECTIVES, Objective, describe, get_objective, register_objective
from .bold_fc import BoldObjective
from .eeg_csd import CsdObjective
from .eeg_psd import SpectrumObjective
from .joint import EegBoldObjective, EegMegBoldObjective, JointObjective, MegBoldObjective
from .meg_psd import MegSpectrumObjective
from .sensors import EegMegObjective

__all__ = [
    "LIKELIHOODS",
    "OBJECTIVES",
    "BoldObjective",
    "CsdObjective",
    "EegBoldObjective",
    "EegMegBoldObjective",
    "EegMegObjective",
    "JointObjective",
    "MegBoldObjective",
    "MegSpectrumObjective",
    "Objective",
    "SpectrumObjective",
    "describe",
    "get_objective",
    "register_objective",
]
