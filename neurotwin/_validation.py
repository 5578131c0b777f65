"""Checks of user input whose messages name the parameter, what is allowed
and what was received. Never use ``assert`` for user input."""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import ConfigError


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest option, or ``""``."""
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_type(value: Any, types: type | tuple[type, ...], name: str) -> Any:
    """Raise a ConfigError naming ``name`` unless ``value`` is of ``types``."""
    if not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{name} must be {names}; got {type(value).__name__} ({value!r}).")
    return value


def check_option(value: Any, allowed: Iterable[Any], name: str) -> Any:
    """Raise a ConfigError with a did-you-mean hint unless value is allowed."""
    allowed = list(allowed)
    if value not in allowed:
        hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
        raise ConfigError(f"{name} must be one of {allowed}; got {value!r}.{hint}")
    return value


def check_range(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Raise a ConfigError unless ``value`` is a finite real number in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number; got {value!r}.")
    if not np.isfinite(value):
        raise ConfigError(f"{name} must be finite; got {value!r}.")
    bad_low = low is not None and (value < low if low_inclusive else value <= low)
    bad_high = high is not None and (value > high if high_inclusive else value >= high)
    if bad_low or bad_high:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        raise ConfigError(f"{name} must be in {lb}{lo}, {hi}{hb}; got {value!r}.")
    return float(value)


def check_random_state(seed: None | int | np.random.Generator) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    ``None`` gives a fresh unseeded generator; an int a seeded one; a
    Generator is returned as is. The global NumPy RNG is never used.
    """
    if seed is None or isinstance(seed, numbers.Integral):
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    raise ConfigError(f"random_state must be None, an int or a numpy Generator; got {seed!r}.")
