"""The feature registry: each feature declared once, selectable by name.

A feature is a function ``func(ctx, **params) -> list of row dicts`` where
``ctx`` is a :class:`~neurotwin.features.context.Context` (the data plus
results shared between features, such as the PSD), declared with its
modality, unit, default parameters and a one-line description. Pipeline
files and Python select features by name; unknown names and parameters are
errors naming the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .._validation import did_you_mean
from ..errors import ConfigError

__all__ = ["FEATURES", "FeatureSpec", "register_feature"]


@dataclass(frozen=True)
class FeatureSpec:
    """Declaration of one feature.

    Attributes
    ----------
    name : str
        Name used in pipeline files and :func:`compute_features`.
    func : callable
        ``func(ctx, **params)`` returning row dicts (feature, location, band,
        value, unit, status).
    modality : tuple of str
        Modalities it applies to (``eeg``, ``meg``, ``bold``, ``mri``).
    unit : str
        Unit of its values (may depend on the channel type: ``"data"``).
    params : dict
        Default parameters (the only names accepted).
    doc : str
        What it is, in one line.
    se : "spectrum" | "epochs" | "own" | None
        How its values' standard errors are measured
        (:mod:`neurotwin.features.uncertainty`): a jackknife over the
        recording's blocks on the PSD alone or on the epochs, the feature's
        own ``se`` in its rows, or none.
    """

    name: str
    func: Callable
    modality: tuple[str, ...]
    unit: str
    params: dict = field(default_factory=dict)
    doc: str = ""
    se: str | None = None

    def check_params(self, given: dict) -> dict:
        """Defaults updated with ``given``; unknown names are a ConfigError."""
        unknown = [k for k in given if k not in self.params]
        if unknown:
            raise ConfigError(f"feature {self.name!r}: unknown parameter(s) {unknown}; valid: "
                              f"{sorted(self.params)}.{did_you_mean(unknown[0], self.params)}")
        return {**self.params, **given}


#: name -> FeatureSpec of every registered feature
FEATURES: dict[str, FeatureSpec] = {}


def register_feature(name: str, *, modality: tuple[str, ...], unit: str, params: dict | None = None,
                     doc: str = "", se: str | None = None) -> Callable:
    """Decorator declaring a feature function.

    Examples
    --------
    >>> from neurotwin.features import FEATURES
    >>> FEATURES["iaf"].unit, FEATURES["iaf"].modality
    ('Hz', ('eeg', 'meg'))
    """

    if se not in (None, "spectrum", "epochs", "own"):
        raise ConfigError(f"feature {name!r}: se must be 'spectrum', 'epochs', 'own' or None, got {se!r}.")

    def wrap(func: Callable) -> Callable:
        if name in FEATURES:
            raise ConfigError(f"feature {name!r} is registered twice.")
        FEATURES[name] = FeatureSpec(name, func, modality, unit, dict(params or {}), doc or
                                     (func.__doc__ or "").strip().splitlines()[0], se)
        return func

    return wrap


def get_spec(name: str) -> FeatureSpec:
    """The spec of a feature; a did-you-mean ConfigError for unknown names."""
    if name not in FEATURES:
        raise ConfigError(f"unknown feature {name!r}; features are {sorted(FEATURES)}."
                          f"{did_you_mean(name, FEATURES)}")
    return FEATURES[name]
