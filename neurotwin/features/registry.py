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

import numpy as np

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
    choices : dict
        ``{parameter: allowed values}`` for parameters that name things
        (a band, a method, measures); a list parameter's items are checked.
    """

    name: str
    func: Callable
    modality: tuple[str, ...]
    unit: str
    params: dict = field(default_factory=dict)
    doc: str = ""
    se: str | None = None
    choices: dict = field(default_factory=dict)

    def check_params(self, given: dict) -> dict:
        """Defaults updated with ``given``.

        Unknown names, values of another type than the default's (a number
        where the default is a number, a list or pair where it is one, ...)
        and values outside :attr:`choices` are a ConfigError naming the
        feature, the parameter and what it takes.

        Examples
        --------
        >>> from neurotwin.features import FEATURES
        >>> FEATURES["iaf"].check_params({"search": [8.0, 13.0]})["search"]
        [8.0, 13.0]
        >>> FEATURES["graph"].check_params({"band": "alfa"})
        Traceback (most recent call last):
        ...
        neurotwin.errors.ConfigError: feature 'graph': band 'alfa' is not one of ... Did you mean 'alpha'?
        """
        if not isinstance(given, dict):
            raise ConfigError(
                f"feature {self.name!r}: parameters must be a table of name = value, got {given!r}."
            )
        valid = sorted(self.params) or "none (it takes no parameters)"
        unknown = [k for k in given if k not in self.params]
        if unknown:
            raise ConfigError(
                f"feature {self.name!r}: unknown parameter(s) {unknown}; valid: "
                f"{valid}.{did_you_mean(unknown[0], self.params)}"
            )
        for key, value in given.items():
            accepts = _accepts(self.params[key])
            if accepts is not None and not accepts[1](value):
                raise ConfigError(
                    f"feature {self.name!r}: {key} = {value!r} must be {accepts[0]} "
                    f"(the default is {self.params[key]!r})."
                )
            if key in self.choices and value is not None:
                allowed = self.choices[key]
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    if item not in allowed:
                        raise ConfigError(
                            f"feature {self.name!r}: {key} {item!r} is not one of "
                            f"{sorted(allowed)}.{did_you_mean(str(item), list(allowed))}"
                        )
        return {**self.params, **given}


def _accepts(default):
    """``(what a parameter takes, a test of a value)`` from its default; None: anything."""
    if isinstance(default, bool):
        return "true or false", lambda v: isinstance(v, bool)
    if isinstance(default, (int, float)):
        return "a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if isinstance(default, str):
        return "a string", lambda v: isinstance(v, str)
    if isinstance(default, (list, tuple)):
        return "a list", lambda v: isinstance(v, (list, tuple, np.ndarray))
    if isinstance(default, dict):
        return "a table", lambda v: isinstance(v, dict)
    return None


#: name -> FeatureSpec of every registered feature
FEATURES: dict[str, FeatureSpec] = {}


def register_feature(
    name: str,
    *,
    modality: tuple[str, ...],
    unit: str,
    params: dict | None = None,
    doc: str = "",
    se: str | None = None,
    choices: dict | None = None,
) -> Callable:
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
        FEATURES[name] = FeatureSpec(
            name,
            func,
            modality,
            unit,
            dict(params or {}),
            doc or (func.__doc__ or "").strip().splitlines()[0],
            se,
            dict(choices or {}),
        )
        return func

    return wrap


def get_spec(name: str) -> FeatureSpec:
    """The spec of a feature; a did-you-mean ConfigError for unknown names."""
    if name not in FEATURES:
        raise ConfigError(
            f"unknown feature {name!r}; features are {sorted(FEATURES)}.{did_you_mean(name, FEATURES)}"
        )
    return FEATURES[name]
