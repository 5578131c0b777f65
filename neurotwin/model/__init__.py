"""The brain-network model: neural masses coupled through a connectome (Hopf, Jansen-Rit, Wilson-Cowan).

Examples
--------
>>> from neurotwin.model import Hopf
>>> Hopf.name
'hopf'
"""

from .anatomy import Anatomy, fit_cortex, parcellation
from .connectome import TEMPLATES, lesion, normalize_weights, template_connectome
from .integrate import Simulation, iter_simulate, simulate
from .leadfield import Cortex, LeadField, cortical_leadfield, sphere_leadfield, template_cortex
from .masses import MODELS, NeuralMass, get_model
from .masses.hopf import Hopf
from .masses.jansen_rit import JansenRit
from .masses.wilson_cowan import WilsonCowan
from .observation import BALLOON_DEFAULTS, balloon_windkessel, bold_steady_state
from .params import ParamSpec, resolve_params
from .spectra import cov_to_corr, hopf_covariance, hopf_csd, hopf_fc, hopf_psd, hopf_psd_jacobian
from .whatif import WhatIf, what_if

__all__ = [
    "Anatomy",
    "BALLOON_DEFAULTS",
    "balloon_windkessel",
    "bold_steady_state",
    "Cortex",
    "cortical_leadfield",
    "cov_to_corr",
    "fit_cortex",
    "get_model",
    "Hopf",
    "hopf_covariance",
    "hopf_csd",
    "hopf_fc",
    "hopf_psd",
    "hopf_psd_jacobian",
    "iter_simulate",
    "JansenRit",
    "LeadField",
    "lesion",
    "MODELS",
    "NeuralMass",
    "normalize_weights",
    "ParamSpec",
    "parcellation",
    "resolve_params",
    "simulate",
    "Simulation",
    "sphere_leadfield",
    "template_connectome",
    "template_cortex",
    "TEMPLATES",
    "what_if",
    "WhatIf",
    "WilsonCowan",
]
