"""Observation models: from region activity to what a scanner records.

BOLD: the Balloon-Windkessel hemodynamic model (Friston et al. 2003) with
the parameters of Stephan et al. (2007) and the BOLD equation of Stephan
et al. (2007; k1 = 7ρ, k2 = 2, k3 = 2ρ - 0.2, V0 = 0.02). It is written
here (a few lines of vectorised Euler) because no maintained library
offers it as a function of an array.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["BALLOON_DEFAULTS", "balloon_windkessel", "bold_steady_state"]

#: Stephan et al. 2007 hemodynamic parameters
BALLOON_DEFAULTS = {"kappa": 0.65, "gamma": 0.41, "tau": 0.98, "alpha": 0.32, "rho": 0.34, "v0": 0.02}


def _bold(v, q, rho, v0):
    k1, k2, k3 = 7 * rho, 2.0, 2 * rho - 0.2
    return v0 * (k1 * (1 - q) + k2 * (1 - q / v) + k3 * (1 - v))


def bold_steady_state(z0: float, **params) -> float:
    """The BOLD signal a constant neural input ``z0`` settles to (closed form).

    Examples
    --------
    >>> from neurotwin.model import bold_steady_state
    >>> abs(bold_steady_state(0.0)) < 1e-12, bold_steady_state(0.2) > 0  # rest: no signal
    (True, True)
    """
    p = {**BALLOON_DEFAULTS, **params}
    f = 1 + z0 / p["gamma"]
    if f <= 0:
        raise ConfigError(f"input {z0} drives blood flow below zero; it must exceed {-p['gamma']}.")
    v = f ** p["alpha"]
    q = v * (1 - (1 - p["rho"]) ** (1 / f)) / p["rho"]
    return float(_bold(v, q, p["rho"], p["v0"]))


def balloon_windkessel(activity, sfreq: float, *, tr: float | None = None, **params) -> np.ndarray:
    """BOLD signal of region activity through the Balloon-Windkessel model.

    Parameters
    ----------
    activity : ndarray, shape (..., n_times, n_regions)
        Neural drive ``z(t)`` of each region, sampled at ``sfreq`` (e.g.
        ``Simulation.data`` or its rectified/normalised version).
    sfreq : float
        Its sampling rate in Hz (>= 100 Hz: the model is integrated at
        that step).
    tr : float | None
        Return one sample every ``tr`` seconds (the scanner's TR); None
        keeps ``sfreq``.
    **params
        Hemodynamic parameters overriding :data:`BALLOON_DEFAULTS`.

    Returns
    -------
    bold : ndarray, shape (..., n_samples, n_regions)

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import balloon_windkessel
    >>> balloon_windkessel(np.zeros((2000, 3)), 100.0, tr=2.0).shape
    (10, 3)
    """
    unknown = [k for k in params if k not in BALLOON_DEFAULTS]
    if unknown:
        raise ConfigError(f"unknown hemodynamic parameter(s) {unknown}; valid: {sorted(BALLOON_DEFAULTS)}.")
    p = {**BALLOON_DEFAULTS, **params}
    z = np.asarray(activity, dtype=float)
    if z.ndim < 2 or not np.isfinite(z).all():
        raise DataError("activity must be a finite (..., n_times, n_regions) array.")
    if sfreq < 100:
        raise ConfigError(f"sfreq={sfreq} Hz is too coarse to integrate the hemodynamics; give >= 100 Hz.")
    dt = 1.0 / sfreq
    step = 1 if tr is None else int(round(tr * sfreq))
    if step < 1:
        raise ConfigError(f"tr={tr} s is shorter than one sample.")
    shape = z.shape[:-2] + z.shape[-1:]
    s, f, v, q = np.zeros(shape), np.ones(shape), np.ones(shape), np.ones(shape)
    out = []
    ia = 1 / p["alpha"]
    for t in range(z.shape[-2]):
        zt = z[..., t, :]
        e = 1 - (1 - p["rho"]) ** (1 / f)
        vq = v**ia
        ds = zt - p["kappa"] * s - p["gamma"] * (f - 1)
        dv = (f - vq) / p["tau"]
        dq = (f * e / p["rho"] - vq * q / v) / p["tau"]
        s, f, v, q = s + dt * ds, f + dt * s, v + dt * dv, q + dt * dq
        if np.any(f <= 0) or np.any(v <= 0):
            raise DataError(
                "the hemodynamics left the physiological range (flow or volume <= 0); "
                "scale the activity down."
            )
        if t % step == step - 1:
            out.append(_bold(v, q, p["rho"], p["v0"]))
    return np.stack(out, axis=-2)
