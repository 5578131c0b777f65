"""The brain-network model: neural masses coupled through a connectome (Hopf, Jansen-Rit, Wilson-Cowan).

Examples
--------
>>> from neurotwin.model import Hopf
>>> Hopf.name
'hopf'
"""

from .connectome import TEMPLATES, lesion, normalize_weights, template_connectome
from .integrate import Simulation, iter_simulate, simulate
from .leadfield import LeadField, sphere_leadfield
from .masses import MODELS, NeuralMass, get_model
from .masses.hopf import Hopf
from .masses.jansen_rit import JansenRit
from .masses.wilson_cowan import WilsonCowan
from .observation import BALLOON_DEFAULTS, balloon_windkessel, bold_steady_state
from .params import ParamSpec, resolve_params
from .spectra import cov_to_corr, hopf_covariance, hopf_csd, hopf_fc, hopf_psd
from .whatif import WhatIf, what_if

__all__ = ["BALLOON_DEFAULTS", "Hopf", "JansenRit", "LeadField", "MODELS", "NeuralMass", "ParamSpec",
           "Simulation", "TEMPLATES", "WhatIf", "WilsonCowan", "balloon_windkessel",
           "bold_steady_state", "cov_to_corr", "get_model", "hopf_covariance", "hopf_csd",
           "hopf_fc", "hopf_psd", "iter_simulate", "lesion", "normalize_weights", "resolve_params",
           "simulate", "sphere_leadfield", "template_connectome", "what_if"]
