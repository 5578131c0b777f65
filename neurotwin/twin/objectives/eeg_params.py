"""The EEG twin's parameters: names, transforms, priors, human names and units.

Priors (unconstrained scale; the reasons, not fitted to our validation data):

* ``|a|``: log-normal around 2π·1 Hz (alpha peaks are 1-3 Hz wide), sd 0.5;
* ``f``: normal 10 Hz, sd 2.5 (the adult alpha range 7.5-12.5 Hz at ±1 sd;
  Klimesch 1999);
* ``v``: log-normal around 6 m/s, sd 0.5 (cortico-cortical myelinated axons
  conduct at about 3-10 m/s; Nunez 1995, Swadlow 2000);
* ``G``: log-normal around 1, sd 2 (weakly informative);
* regional offsets, pooled to the global values: ``δf_j`` sd 1 Hz (the
  posterior-anterior gradient of the alpha frequency is about 1 Hz),
  ``δa_j`` sd 0.5;
* channel offsets of gain (log, sd 0.5), background (log, sd 1) and
  exponent (sd 0.5); the knee ``κ`` log-normal around 8 Hz, sd 1 (knee
  frequencies of cortical field potentials correspond to timescales of
  10-30 ms, i.e. 5-16 Hz; Gao et al. 2020).

The levels (gain, background, beta power) are centred on the recording's own
scale with wide priors (sd 3 on the log scale): they carry the data's units,
not physiology.

Examples
--------
>>> from neurotwin.twin.objectives.eeg_params import GLOBAL_NAMES, PARAMETERS
>>> [PARAMETERS[n] for n in GLOBAL_NAMES[:4]]
[('damping', '1/s'), ('alpha frequency', 'Hz'), ('global coupling', '1/s'), ('conduction velocity', 'm/s')]
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CHANNEL_SD",
    "GLOBAL_NAMES",
    "GLOBAL_SD",
    "NETWORK",
    "NAMES",
    "PARAMETERS",
    "REGION_SD",
    "TRANSFORMS",
    "centred",
    "knee_derivatives",
    "lorentz_derivatives",
    "hopf_from_posterior",
    "regional_params",
]

#: global parameters of the EEG twin, in order
GLOBAL_NAMES = (
    "a",
    "f",
    "G",
    "velocity",
    "gain",
    "background",
    "exponent",
    "knee",
    "beta_f",
    "beta_width",
    "beta_power",
)
NAMES = GLOBAL_NAMES  # (the names the longitudinal tools follow)
TRANSFORMS = ("logneg", "identity", "log", "log", "log", "log", "identity", "log", "identity", "log", "log")
#: their prior sds on the unconstrained scale (reasons in the module docstring)
GLOBAL_SD = (0.5, 2.5, 2.0, 0.5, 3.0, 3.0, 1.0, 1.0, 3.0, 0.5, 3.0)
#: prior sd of the channel offsets (gain: log; background: log; exponent) and the regional ones
CHANNEL_SD = {"gain_offset": 0.5, "background_offset": 1.0, "exponent_offset": 0.5, "beta_offset": 1.0}
REGION_SD = {"a_offset": 0.5, "f_offset": 1.0}
#: the network's parameters (the rest is the sensors' observation model): the first global ones and
#: the regional offsets; an EEG+MEG twin shares exactly these between its parts
NETWORK_GLOBALS = GLOBAL_NAMES[:4]
NETWORK = NETWORK_GLOBALS + tuple(REGION_SD)
#: human name and natural-scale unit of each parameter ("data units": the recording's own, e.g. V²/Hz;
#: "log": a log-ratio to the global value)
PARAMETERS = {
    "a": ("damping", "1/s"),
    "f": ("alpha frequency", "Hz"),
    "G": ("global coupling", "1/s"),
    "velocity": ("conduction velocity", "m/s"),
    "gain": ("sensor gain", "data units"),
    "background": ("aperiodic level", "data units"),
    # the CSD twin's aperiodic activity of the cortex, seen through the lead field (coherent)
    "background_source": ("cortical aperiodic level", "data units"),
    "exponent": ("aperiodic exponent", "1"),
    "knee": ("aperiodic knee", "Hz"),
    "beta_f": ("beta frequency", "Hz"),
    "beta_width": ("beta half-width", "Hz"),
    "beta_power": ("beta power", "data units"),
    "gain_offset": ("sensor gain offset", "log"),
    "background_offset": ("aperiodic level offset", "log"),
    "exponent_offset": ("aperiodic exponent offset", "1"),
    "beta_offset": ("beta power offset", "log"),
    "a_offset": ("damping offset", "log"),
    "f_offset": ("alpha frequency offset", "Hz"),
}


def knee_derivatives(level, chi, log_k, kc, fc, log_f) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives of the knee form ``level = B / (κ^χ + f^χ)`` by its exponent ``χ`` and by ``log κ``
    (``kc = κ^χ``, ``fc = f^χ``): the channels' background and the CSD twin's cortical one share it."""
    return -level * (kc * log_k + fc * log_f) / (kc + fc), -level * chi * kc / (kc + fc)


def lorentz_derivatives(power, freqs, centre, dist2, gam2) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives of the beta Lorentzian ``power · γ² / ((f - f_β)² + γ²)`` by ``f_β`` and ``log γ``."""
    return power * 2 * (freqs - centre) / (dist2 + gam2), power * 2 * dist2 / (dist2 + gam2)


def centred(x: np.ndarray) -> np.ndarray:
    """Offsets minus their mean: the global parameter is then the channels' (regions') mean."""
    return x - x.mean() if len(x) else x


def regional_params(log_damping: float, freq: float, da: np.ndarray, df: np.ndarray):
    """Each region's damping (negative, 1/s) and intrinsic frequency (Hz) from the global values and the
    (uncentred) offsets: the one place the offsets' centring is applied."""
    return -np.exp(log_damping + centred(da)), freq + centred(df)


def hopf_from_posterior(posterior, regions) -> tuple[dict, float]:
    """The fitted network of an EEG twin state: per-region Hopf parameters and the velocity (m/s).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.objectives.eeg_params import hopf_from_posterior
    >>> from neurotwin.twin.inference import Posterior
    >>> post = Posterior(["a", "f", "G", "velocity", "f_offset[A]", "f_offset[B]"],
    ...                  ["logneg", "identity", "log", "log", "identity", "identity"],
    ...                  np.array([np.log(6.0), 10.0, 0.0, np.log(5.0), 0.5, 1.5]), np.eye(6))
    >>> params, v = hopf_from_posterior(post, ["A", "B"])
    >>> params["f"].tolist(), round(v, 6)
    ([9.5, 10.5], 5.0)
    """
    mean = dict(zip(posterior.names, np.asarray(posterior.mean, float)))
    regions = list(regions)
    a, f = regional_params(
        mean["a"],
        mean["f"],
        np.array([mean.get(f"a_offset[{r}]", 0.0) for r in regions]),
        np.array([mean.get(f"f_offset[{r}]", 0.0) for r in regions]),
    )
    params = {"a": a, "f": f, "G": float(np.exp(mean["G"])), "sigma": 1.0}
    return params, float(np.exp(mean["velocity"]))
