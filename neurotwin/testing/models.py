"""The neural-mass contract (:func:`check_model`)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..model.masses import NeuralMass
from ..model.params import resolve_params


def check_model(model: NeuralMass) -> None:
    """Raise AssertionError unless ``model`` behaves like the built-in neural masses.

    Checks: a name; parameters with unique names, defaults inside their
    bounds, a noise parameter; state, coupling, observation and noise
    arrays of the documented shapes for a batch; finite drift at the
    defaults; a short simulation of a 3-region network that stays finite;
    unknown parameters refused.

    Examples
    --------
    >>> from neurotwin.model import Hopf
    >>> from neurotwin.testing import check_model
    >>> check_model(Hopf())
    """
    from ..model import simulate

    name = type(model).__name__
    if not model.name:
        raise AssertionError(f"{name}: no name")
    names = [p.name for p in model.params]
    if len(set(names)) != len(names):
        raise AssertionError(f"{name}: duplicate parameter names {names}")
    for p in model.params:
        lo, hi = p.bounds
        if not lo <= p.default <= hi:
            raise AssertionError(f"{name}: default of {p.name} ({p.default}) is outside {p.bounds}")
    if model.noise_param not in names:
        raise AssertionError(f"{name}: the noise parameter {model.noise_param!r} is not declared")
    k, n, d = 2, 3, model.n_state
    params, _ = resolve_params(model.params, {}, n, batch=k)
    params["_strength"] = np.ones((1, n))
    state = model.initial_state(k, n, np.random.default_rng(0))
    shapes = {
        "initial_state": (state.shape, (k, n, d)),
        "coupling_variable": (model.coupling_variable(state, params).shape[:2], (k, n)),
        "observe": (model.observe(state).shape, (k, n)),
        "noise_scale": (model.noise_scale(params, k, n).shape, (k, n, d)),
    }
    coupling = np.zeros(model.coupling_variable(state, params).shape)
    drift = model.drift(state, coupling, params)
    shapes["drift"] = (drift.shape, (k, n, d))
    for what, (got, want) in shapes.items():
        if got != want:
            raise AssertionError(f"{name}.{what}: shape {got}, expected {want}")
    if not np.isfinite(drift).all():
        raise AssertionError(f"{name}: non-finite drift at the default parameters")
    w = np.ones((n, n)) - np.eye(n)
    sim = simulate(
        model, w, {}, delays_ms=np.full((n, n), 2.0), duration=0.2, dt=1e-4, transient=0.05, random_state=0
    )
    if sim.data.shape != (1, 200, n) or not np.isfinite(sim.data).all():
        raise AssertionError(f"{name}: a short simulation gave shape {sim.data.shape} or non-finite values")
    try:
        resolve_params(model.params, {"no_such_parameter": 1.0}, n)
    except ConfigError:
        return
    raise AssertionError(f"{name}: an unknown parameter was accepted")
