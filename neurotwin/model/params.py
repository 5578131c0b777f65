"""Model parameters, declared once: :class:`ParamSpec` and their validation.

Every neural-mass model lists its parameters as ParamSpecs (name, default,
unit, bounds, global or per region, doc). :func:`resolve_params` turns
what a user gives (scalars, per-region vectors, or one row per batch
member) into arrays of a fixed shape, and refuses unknown names and
out-of-bounds values with a message naming the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import did_you_mean
from ..errors import ConfigError

__all__ = ["ParamSpec", "resolve_params"]


@dataclass(frozen=True)
class ParamSpec:
    """Declaration of one model parameter.

    Examples
    --------
    >>> from neurotwin.model import ParamSpec
    >>> spec = ParamSpec("a", -0.5, "1/s", (-5.0, 5.0), per_region=True, doc="bifurcation parameter")
    >>> spec.bounds, spec.per_region
    ((-5.0, 5.0), True)
    """

    name: str
    default: float
    unit: str
    bounds: tuple[float, float]
    per_region: bool = False
    doc: str = ""


def resolve_params(
    specs: tuple[ParamSpec, ...], given: dict, n_regions: int, batch: int | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """Validate parameters and broadcast them to ``(K, N)`` (per region) or ``(K,)`` (global).

    Parameters
    ----------
    specs : tuple of ParamSpec
        The model's declarations.
    given : dict
        Values by name: a scalar, a length-N vector (per-region parameters),
        a length-K vector (global parameters, one per batch member) or a
        ``(K, N)`` array. Missing names take their default.
    n_regions : int
        N.
    batch : int | None
        K; None infers it from the values (1 if all are scalars).

    Returns
    -------
    params : dict of str to ndarray
    batch : int

    Examples
    --------
    >>> from neurotwin.model import ParamSpec, resolve_params
    >>> specs = (ParamSpec("a", -0.5, "1/s", (-5, 5), per_region=True), ParamSpec("G", 0.1, "1", (0, 10)))
    >>> p, k = resolve_params(specs, {"G": [0.1, 0.2, 0.3]}, n_regions=4)
    >>> k, p["a"].shape, p["G"].shape
    (3, (3, 4), (3,))
    """
    names = {s.name: s for s in specs}
    unknown = [k for k in given if k not in names]
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {unknown}; this model has {sorted(names)}."
            f"{did_you_mean(unknown[0], names)}"
        )
    arrays = {}
    for spec in specs:
        value = np.asarray(given.get(spec.name, spec.default), dtype=float)
        if not np.isfinite(value).all():
            raise ConfigError(f"parameter {spec.name!r} must be finite.")
        lo, hi = spec.bounds
        if (value < lo).any() or (value > hi).any():
            raise ConfigError(
                f"parameter {spec.name!r} = {value.min():g}..{value.max():g} is outside its "
                f"bounds [{lo:g}, {hi:g}] {spec.unit}."
            )
        arrays[spec.name] = value
    sizes = set()
    for spec in specs:
        v = arrays[spec.name]
        if v.ndim == 2:
            sizes.add(v.shape[0])
        elif v.ndim == 1 and not (spec.per_region and v.shape[0] == n_regions):
            sizes.add(v.shape[0])
    if batch is None:
        batch = max(sizes) if sizes else 1
    if sizes - {batch, 1}:
        raise ConfigError(f"parameter arrays give batch sizes {sorted(sizes)}; they must agree (K={batch}).")
    out = {}
    for spec in specs:
        v = arrays[spec.name]
        try:
            if spec.per_region:
                if v.ndim == 1 and v.shape[0] == n_regions:
                    v = v[None, :]
                elif v.ndim == 1:
                    v = v[:, None]
                out[spec.name] = np.broadcast_to(v, (batch, n_regions)).copy()
            else:
                if v.ndim > 1:
                    raise ValueError
                out[spec.name] = np.broadcast_to(v, (batch,)).copy()
        except ValueError:
            raise ConfigError(
                f"parameter {spec.name!r} of shape {v.shape} does not fit "
                f"{'(K, N)' if spec.per_region else '(K,)'} with K={batch}, N={n_regions}."
            ) from None
    return out, batch
