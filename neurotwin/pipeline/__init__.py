"""Declarative pipelines over a study: definitions, steps (and, next, the runner)."""

from .config import PipelineConfig, load_config
from .steps import STEPS

__all__ = ["STEPS", "PipelineConfig", "load_config"]
