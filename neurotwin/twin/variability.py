"""How much a person's measures vary between sessions when nothing has changed.

A difference between two sessions is a change only if it exceeds what the
two measurements' own errors (their standard errors, or the posteriors'
sd) *and* the brain's ordinary session-to-session variability explain:
vigilance, time of day, caffeine, electrode placement. That variability,
the between-session SD ``τ``, is a property of the measure and of the
population, not of one recording, so it is estimated:

1. from the patient's own history once the twin has at least
   ``MIN_OWN`` (3) sessions: ``τ² = ½ mean((x_{k+1} - x_k)²) - mean(se²)``
   (successive differences, so that a slow trend barely inflates it; von
   Neumann 1941), pooled with the population value in proportion to their
   degrees of freedom;
2. else from the study: :func:`estimate_variability` over the subjects'
   sessions (the group run stores it as the study's population prior);
3. else from the built-in :data:`DEFAULT_SD` below.

Built-in defaults (session-to-session SD over days to months of healthy
adults at rest). They are approximate, each ``σ_between · √(1 - r)`` from
a retest correlation ``r`` and the between-person SD ``σ_between``;
Salinsky et al. (1991, Electroencephalogr Clin Neurophysiol 79:382) found
a retest r of 0.84 for broad-band features over 12-16 weeks, with the peak
alpha frequency the most stable feature of all:

* alpha frequency (the IAF and the twin's ``f``): 0.3 Hz, from r ≈ 0.9
  and a between-person SD of about 1 Hz (Klimesch 1999, Brain Res Rev
  29:169);
* aperiodic exponent 0.1, offset 0.1 (log10 power): an *assumed* r ≈ 0.8
  (no settled retest figure yet) with a between-person SD of about 0.25
  (resting exponents of adults span roughly 1-2; Donoghue et al. 2020,
  Nat Neurosci 23:1655);
* relative band power 0.03 (a fraction of the total), spectral edge 1 Hz,
  theta/beta ratio 0.2 (log): r ≈ 0.84 (Salinsky et al. 1991);
* twin damping ``a`` 0.15 (log) and coupling ``G`` 0.3 (log): no
  published retest figures. ``a`` sets the alpha peak's width, taken to
  vary like the peak's power; ``G`` is left wide because it is weakly
  identified.

A study's own estimate replaces these as soon as it exists.

Examples
--------
>>> from neurotwin.twin.variability import DEFAULT_SD
>>> DEFAULT_SD["iaf"]
0.3
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DEFAULT_SD",
    "MIN_OWN",
    "Variability",
    "add_sums",
    "estimate_variability",
    "from_sums",
    "variability_sums",
]

#: built-in between-session SD of each measure (feature name or twin parameter; the twin's
#: unconstrained scale: Hz for ``f``, log for ``a`` and ``G``)
DEFAULT_SD = {
    "iaf": 0.3,
    "aperiodic_exponent": 0.1,
    "aperiodic_offset": 0.1,
    "band_power_rel": 0.03,
    "spectral_edge": 1.0,
    "theta_beta": 0.2,
    "fc_mean": 0.03,
    "f": 0.3,
    "a": 0.15,
    "G": 0.3,
}
#: measures compared on the log scale (ratios)
LOG_FEATURES = ("theta_beta",)
#: sessions of a twin's own history from which its own variability is used
MIN_OWN = 3


@dataclass
class Variability:
    """Between-session SDs by measure, with where each came from.

    Attributes
    ----------
    sd : dict
        ``{measure: τ}`` (a feature name or a twin parameter).
    dof : dict
        Degrees of freedom of each estimate (``inf`` for a built-in default).
    source : dict
        ``{measure: "default" | "study (n subjects)" | "own history (k sessions)"}``.

    Examples
    --------
    >>> from neurotwin.twin.variability import Variability
    >>> Variability.default().get("iaf")
    (0.3, inf, 'default (literature)')
    """

    sd: dict = field(default_factory=dict)
    dof: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)

    @classmethod
    def default(cls) -> Variability:
        """The built-in :data:`DEFAULT_SD`."""
        return cls(
            dict(DEFAULT_SD), {k: np.inf for k in DEFAULT_SD}, {k: "default (literature)" for k in DEFAULT_SD}
        )

    def get(self, name: str) -> tuple[float, float, str]:
        """``(τ, dof, source)`` of a measure (its default if not estimated; ``(0, inf, 'none')`` if none)."""
        if name in self.sd:
            return float(self.sd[name]), float(self.dof.get(name, np.inf)), self.source.get(name, "")
        base = name.split(":")[0]  # a mean-spectrum value ("iaf:global") defaults as its feature
        if base in DEFAULT_SD:
            return DEFAULT_SD[base], np.inf, "default (literature)"
        return 0.0, np.inf, "none"

    def to_dict(self) -> dict:
        """JSON-able form (the store keeps a study's estimate)."""
        return {
            "sd": {k: float(v) for k, v in self.sd.items()},
            "dof": {k: (None if not np.isfinite(v) else float(v)) for k, v in self.dof.items()},
            "source": dict(self.source),
        }

    @classmethod
    def from_dict(cls, d: dict | None) -> Variability:
        """Inverse of :meth:`to_dict` (``None``: the defaults)."""
        if not d:
            return cls.default()
        return cls(
            dict(d.get("sd", {})),
            {k: (np.inf if v is None else float(v)) for k, v in d.get("dof", {}).items()},
            dict(d.get("source", {})),
        )


def _successive(values: np.ndarray, ses: np.ndarray) -> tuple[float, float, int]:
    """Sum of squared successive differences minus their expected measurement part, and the count."""
    ok = np.isfinite(values)
    v, s = values[ok], np.where(np.isfinite(ses[ok]), ses[ok], 0.0)
    if len(v) < 2:
        return 0.0, 0.0, 0
    d2 = np.diff(v) ** 2
    meas = s[1:] ** 2 + s[:-1] ** 2
    return float(d2.sum()), float(meas.sum()), len(d2)


def variability_sums(series: dict) -> dict:
    """The sufficient statistics of :func:`estimate_variability`.

    ``{measure: [Σ Δx², Σ se², pairs, series]}``.

    Sums of several groups of people add up, so a study can keep them per
    subject and leave a subject's own out (:func:`from_sums`).
    """
    out = {}
    for name, pairs in series.items():
        d2 = meas = 0.0
        n = people = 0
        for values, ses in pairs:
            a, b, k = _successive(np.asarray(values, float), np.asarray(ses, float))
            d2, meas, n, people = d2 + a, meas + b, n + k, people + (k > 0)
        if n:
            out[name] = [d2, meas, n, people]
    return out


def from_sums(sums: dict, *, source: str = "study") -> Variability:
    """A :class:`Variability` from (added-up) :func:`variability_sums`.

    Examples
    --------
    >>> from neurotwin.twin.variability import from_sums
    >>> from_sums({"iaf": [0.5, 0.1, 10, 5]}).sd["iaf"]  # sqrt((0.5 - 0.1) / 20)
    0.1414213562373095
    """
    out = Variability()
    for name, (d2, meas, n, people) in sums.items():
        if n <= 0:
            continue
        out.sd[name] = float(np.sqrt(max(0.0, (d2 - meas) / (2 * n))))
        out.dof[name] = float(n)
        out.source[name] = f"{source} ({int(people)} series, {int(n)} session pairs)"
    return out


def add_sums(parts) -> dict:
    """Add up several :func:`variability_sums`."""
    total: dict = {}
    for part in parts:
        for name, vals in part.items():
            acc = total.setdefault(name, [0.0, 0.0, 0, 0])
            for i, v in enumerate(vals):
                acc[i] += v
    return total


def estimate_variability(series: dict, *, source: str = "study") -> Variability:
    """Between-session SDs from repeated measures of several people (or one).

    Parameters
    ----------
    series : dict
        ``{measure: [(values, ses), ...]}``: for each measure, one pair per
        person (or per channel of a person) of arrays over their sessions in
        time order — values and their standard errors (NaN where unknown).
    source : str
        How to label the estimate.

    Returns
    -------
    Variability
        ``τ² = max(0, Σ (Δx² - se²_k - se²_{k+1}) / (2 n))`` over all successive
        pairs, with ``n`` pairs as its degrees of freedom.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.variability import estimate_variability
    >>> rng = np.random.default_rng(0)
    >>> people = [(10 + rng.normal(0, 0.2, 4), np.full(4, 0.0)) for _ in range(200)]
    >>> round(estimate_variability({"iaf": people}).sd["iaf"], 1)
    0.2
    """
    return from_sums(variability_sums(series), source=source)
