"""What-if experiments: the same model with a lesion, scaled coupling or changed local parameters.

Both runs use the same statistics — closed form for the sub-critical Hopf
network (exact, no sampling error), otherwise simulations driven by the
same noise (common random numbers), so the difference is the effect of
the change rather than of the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..io.connectome import Connectome
from .connectome import lesion, region_index
from .integrate import simulate
from .masses import get_model
from .spectra import cov_to_corr, hopf_covariance, hopf_csd

__all__ = ["WhatIf", "what_if"]


@dataclass(frozen=True)
class WhatIf:
    """Baseline and altered outputs of one model.

    Attributes
    ----------
    labels : list of str
        Region names.
    freqs : ndarray, shape (F,)
        Frequencies of the spectra (Hz).
    psd : dict
        ``"baseline"`` and ``"altered"`` region PSDs, ``(N, F)``.
    fc : dict
        ``"baseline"`` and ``"altered"`` functional connectivity, ``(N, N)``.
    method : str
        ``"closed_form"`` or ``"simulation"``.
    change : dict
        What was changed (for provenance).
    """

    labels: list
    freqs: np.ndarray
    psd: dict
    fc: dict
    method: str
    change: dict

    def __repr__(self) -> str:
        done = [f"{k} {v}" for k, v in self.change.items() if v not in ([], 1.0, ())]
        return (
            f"<WhatIf | {self.method}, {len(self.labels)} regions, {len(self.freqs)} frequencies; "
            f"changed: {', '.join(done) or 'nothing'}>"
        )

    def summary(self, band: tuple[float, float] = (8.0, 13.0)) -> pd.DataFrame:
        """Per region: band power change (%) and change of FC strength (mean |r| to the others).

        Examples
        --------
        >>> import numpy as np
        >>> from neurotwin.model import what_if
        >>> w = np.ones((3, 3)) - np.eye(3)
        >>> r = what_if(w, {"a": -1.0, "G": 0.5}, lesion_regions=[0])
        >>> list(r.summary().columns)
        ['region', 'power_change_pct', 'fc_strength_change']
        """
        sel = (self.freqs >= band[0]) & (self.freqs <= band[1])
        if not sel.any():
            raise ConfigError(f"no frequency of this result lies in {band} Hz.")
        power = {k: v[:, sel].sum(axis=1) for k, v in self.psd.items()}
        n = len(self.labels)
        off = ~np.eye(n, dtype=bool)
        strength = {k: np.abs(np.where(off, v, 0)).sum(axis=1) / max(n - 1, 1) for k, v in self.fc.items()}
        return pd.DataFrame(
            {
                "region": self.labels,
                "power_change_pct": 100 * (power["altered"] / power["baseline"] - 1),
                "fc_strength_change": strength["altered"] - strength["baseline"],
            }
        )


def what_if(
    connectome,
    params: dict | None = None,
    *,
    model: str = "hopf",
    conduction_velocity=None,
    lesion_regions=(),
    lesion_edges=(),
    silence_regions=(),
    coupling_scale: float = 1.0,
    set_params: dict | None = None,
    freqs=None,
    method: str = "auto",
    duration: float = 60.0,
    dt: float = 1e-4,
    random_state=0,
) -> WhatIf:
    """Run a model before and after a change and return both outputs.

    Two ways to take a region out, which answer different questions:

    * **disconnect** (``lesion_regions``): every connection to and from the
      region is cut (a white-matter lesion isolating it). The region keeps
      oscillating on its own, and with the Hopf model's diffusive coupling
      it also loses the damping its neighbours imposed, so *its own* power
      usually rises; the others lose its input.
    * **silence** (``silence_regions``): the region's activity is clamped to
      rest (a grey-matter lesion, or an inactivated region): it neither
      oscillates nor passes anything on, while its connections stay, so its
      neighbours keep the coupling's damping but receive nothing from it. Its
      own power goes to zero (-100 %). Computed exactly on the network without
      the region, each neighbour's damping increased by ``G w_ij`` (Hopf only).

    Parameters
    ----------
    connectome : Connectome | ndarray
        The network (a weight matrix is directed unless it is symmetric).
    params : dict | None
        Baseline model parameters (``G`` is the coupling).
    model : str
        Neural-mass model name.
    conduction_velocity : float | None
        m/s; delays from the connectome's tract lengths (None: no delays).
    lesion_regions, lesion_edges
        Regions (labels or indices) to disconnect and edges to cut.
    silence_regions
        Regions (labels or indices) clamped to rest (see above).
    coupling_scale : float
        Factor applied to the global coupling ``G``.
    set_params : dict | None
        Parameters to change, e.g. ``{"a": per-region array}``.
    freqs : array | None
        Frequencies of the spectra (default 1-45 Hz by 0.5 Hz).
    method : "auto" | "closed_form" | "simulation"
        ``"auto"``: closed form for a sub-critical Hopf network, else simulation.
    duration, dt, random_state
        Simulation settings (both runs share the noise).

    Returns
    -------
    result : WhatIf

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import what_if
    >>> w = np.ones((3, 3)) - np.eye(3)
    >>> r = what_if(w, {"a": -1.0, "G": 0.5}, coupling_scale=2.0)
    >>> r.method, r.psd["altered"].shape
    ('closed_form', (3, 89))
    """
    if isinstance(connectome, Connectome):
        con = connectome
    else:
        w = np.asarray(connectome, float)
        con = Connectome(w, directed=w.shape[:1] == w.shape[1:] and not np.allclose(w, w.T))
    labels = list(con.labels) if con.labels else [str(i) for i in range(con.n_regions)]
    base = dict(params or {})
    altered_con = (
        lesion(con, regions=lesion_regions, edges=lesion_edges) if (lesion_regions or lesion_edges) else con
    )
    if not np.isfinite(coupling_scale) or coupling_scale < 0:
        raise ConfigError(f"coupling_scale must be >= 0, got {coupling_scale!r}.")
    mass = get_model(model)
    defaults = {p.name: p.default for p in mass.params}
    altered = {**base, **(set_params or {})}
    altered["G"] = np.asarray(altered.get("G", defaults["G"]), float) * coupling_scale
    silent = sorted({region_index(con, r) for r in silence_regions})
    if silent and mass.name != "hopf":
        raise ConfigError(
            "silence_regions needs the Hopf model (diffusive coupling); use lesion_regions to "
            "disconnect regions of other models."
        )
    delays = None if conduction_velocity is None else con.delays(conduction_velocity)
    freqs = np.arange(1.0, 45.01, 0.5) if freqs is None else np.asarray(freqs, float)
    if method not in ("auto", "closed_form", "simulation"):
        raise ConfigError(f"method must be 'auto', 'closed_form' or 'simulation', got {method!r}.")
    a_values = [np.asarray(p.get("a", defaults.get("a", 0.0)), float) for p in (base, altered)]
    closed = mass.name == "hopf" and all((a < 0).all() for a in a_values)
    if method == "closed_form" and not closed:
        raise ConfigError("the closed form needs the Hopf model below the bifurcation (a < 0 everywhere).")
    use_closed = closed and method != "simulation"
    psd, fc = {}, {}
    run = {
        "use_closed": use_closed,
        "mass": mass,
        "freqs": freqs,
        "duration": duration,
        "dt": dt,
        "random_state": random_state,
    }
    psd["baseline"], fc["baseline"] = _outputs(con.weights, base, delays, **run)
    if not silent:
        psd["altered"], fc["altered"] = _outputs(altered_con.weights, altered, delays, **run)
    else:
        # a silenced region is clamped to rest: the others' equations lose its input but keep the
        # diffusive coupling's damping towards it (-G w_ij z_i), so the network without it is exact
        n = con.n_regions
        keep = np.setdiff1d(np.arange(n), silent)
        w = altered_con.weights
        reduced = {}
        for name, value in altered.items():
            value = np.asarray(value, float)
            reduced[name] = value[keep] if value.ndim == 1 and len(value) == n else value
        a = np.broadcast_to(np.asarray(altered.get("a", defaults["a"]), float), (n,))[keep]
        reduced["a"] = a - float(altered["G"]) * w[np.ix_(keep, silent)].sum(axis=1)
        sub_delays = None if delays is None else delays[np.ix_(keep, keep)]
        p_sub, fc_sub = _outputs(w[np.ix_(keep, keep)], reduced, sub_delays, **run)
        psd["altered"] = np.zeros((n, len(freqs)))
        psd["altered"][keep] = p_sub
        fc["altered"] = np.eye(n)
        fc["altered"][np.ix_(keep, keep)] = fc_sub
    change = {
        "lesion_regions": [str(r) for r in lesion_regions],
        "lesion_edges": [[str(a), str(b)] for a, b in lesion_edges],
        "silence_regions": [str(r) for r in silence_regions],
        "coupling_scale": float(coupling_scale),
        "set_params": sorted(set_params or {}),
    }
    return WhatIf(labels, freqs, psd, fc, "closed_form" if use_closed else "simulation", change)


def _outputs(weights, p: dict, delays, *, use_closed: bool, mass, freqs, duration, dt, random_state):
    """Region PSDs ``(N, F)`` and FC ``(N, N)`` of one network: closed form or simulated."""
    if use_closed:
        csd = hopf_csd(weights, freqs, p, delays_ms=delays)
        return np.einsum("fii->if", csd).real, cov_to_corr(hopf_covariance(weights, p, delays_ms=delays))
    sim = simulate(
        mass,
        weights,
        p,
        delays_ms=delays,
        duration=duration,
        dt=dt,
        decimate=max(1, int(round(1 / (dt * 250)))),
        random_state=random_state,
    )
    from scipy.signal import welch  # (here: scipy.signal costs ~1 s to import)

    x = sim.data[0]
    f, pxx = welch(x.T, fs=sim.sfreq, nperseg=min(len(x), int(4 * sim.sfreq)))
    return np.stack([np.interp(freqs, f, row) for row in pxx]), np.corrcoef(x.T)
