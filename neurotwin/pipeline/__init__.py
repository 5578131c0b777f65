"""Declarative pipelines over a study: definitions, steps and the runner.

Examples
--------
>>> import neurotwin.pipeline as ntp
>>> [s.step for s in ntp.load("rest_fmri").config.steps]
['parcellate', 'regress_confounds', 'bandpass', 'features']
"""

from ._workdir import clean_work
from .config import PipelineConfig, load_config, resolve_pipeline
from .runner import Pipeline, RunResult, load
from .steps import STEPS

__all__ = [
    "STEPS",
    "Pipeline",
    "PipelineConfig",
    "RunResult",
    "clean_work",
    "load",
    "load_config",
    "resolve_pipeline",
]
