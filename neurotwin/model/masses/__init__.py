"""Neural-mass models, one module each, registered by name in :data:`MODELS`."""

from __future__ import annotations

from ..._validation import did_you_mean
from ...errors import ConfigError
from .base import NeuralMass
from .hopf import Hopf
from .jansen_rit import JansenRit
from .wilson_cowan import WilsonCowan

#: model name -> class
MODELS: dict[str, type[NeuralMass]] = {cls.name: cls for cls in (Hopf, JansenRit, WilsonCowan)}


def get_model(model: str | NeuralMass) -> NeuralMass:
    """A model instance from its name (or the instance itself).

    Examples
    --------
    >>> from neurotwin.model import get_model
    >>> get_model("jansen_rit").name
    'jansen_rit'
    """
    if isinstance(model, NeuralMass):
        return model
    if model not in MODELS:
        raise ConfigError(
            f"unknown model {model!r}; models are {sorted(MODELS)}.{did_you_mean(str(model), MODELS)}"
        )
    return MODELS[model]()


__all__ = ["MODELS", "NeuralMass", "get_model"]
