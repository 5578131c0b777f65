"""How much a person's measures vary between sessions when nothing has changed.

A difference between two sessions is a change only if it exceeds what the
two measurements' own errors (their standard errors, or the posteriors'
sd) *and* the brain's ordinary session-to-session variability explain:
vigilance, time of day, caffeine, electrode placement. That variability,
the between-session SD ``τ``, is a property of the measure and of the
population, not of one recording, so it is estimated:

1. from the patient's own history once the twin has at least
   ``MIN_OWN`` (3) sessions, from the successive differences ``Δx`` of
   its sessions (so that a slow trend barely inflates it; von Neumann
   1941): the ``τ²`` at which ``Σ Δx² / (se²_k + se²_{k+1} + 2τ²)``
   equals the number of pairs (the Paule-Mandel estimator of
   random-effects meta-analysis, :func:`paule_mandel`), pooled with the
   population value in proportion to their degrees of freedom;
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

``τ`` is one per measure (and band), over all channels. Each channel's own
``τ`` (from 20 session pairs on) was tried on 2026-12-08 and measured
worse on the real no-change parts of ``benchmarks/validation/longitudinal.py``:
false alarms 37.5 % (21.9 % with the measure's tail shape kept) against
18.8 %; the alarms there are one person's events, not unstable channels.

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
    "paule_mandel",
    "from_sums",
    "tail_shape",
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
#: session pairs a study needs before the shape of their tails is estimated (:func:`tail_shape`)
MIN_TAIL_PAIRS = 20
#: the most session pairs a tail shape is fitted to (a large study's are subsampled evenly)
MAX_TAIL_PAIRS = 2000
#: a fitted Student-t with more degrees of freedom than this is taken as normal
MAX_TAIL_DOF = 100.0
#: the fewest degrees of freedom a tail is given (a finite variance needs more than 2)
MIN_TAIL_DOF = 2.5
#: twice the log-likelihood gain over the normal law a Student-t tail needs (5 % on the boundary)
TAIL_LR = 2.71


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
    tail : dict
        ``{measure: (dof, scale)}``: the Student-t law of a study's
        standardised session differences, where they are heavier-tailed than
        a normal law's (:func:`tail_shape`); tests of a measure without one
        use the normal law (with the estimate's degrees of freedom).

    Examples
    --------
    >>> from neurotwin.twin.variability import Variability
    >>> Variability.default().get("iaf")
    (0.3, inf, 'default (literature)')
    """

    sd: dict = field(default_factory=dict)
    dof: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    tail: dict = field(default_factory=dict)

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

    def p_value(self, name: str, z: float, dof: float) -> float:
        """Two-sided p-value of a standardised difference ``z`` of a measure.

        With the study's tail shape of the measure (:attr:`tail`) the
        Student-t of that shape, else the Student-t with ``dof`` (a
        difference's Satterthwaite degrees of freedom; ``inf``: normal).

        Examples
        --------
        >>> from neurotwin.twin.variability import Variability
        >>> light = Variability().p_value("iaf", 3.29, float("inf"))
        >>> heavy = Variability(tail={"iaf": (3.0, 0.8)}).p_value("iaf", 3.29, float("inf"))
        >>> round(light, 3), round(heavy, 3)
        (0.001, 0.026)
        """
        # the laws' survival functions as SciPy's distributions compute them (stdtr(ν, -z), ndtr(-z)),
        # called directly: a session's hundreds of tests would spend most of their time in the
        # distribution objects' argument handling
        from scipy.special import ndtr, stdtr

        z = abs(float(z))
        if name in self.tail:
            shape, scale = self.tail[name]
            return float(2 * stdtr(shape, -z / scale))
        return float(2 * (ndtr(-z) if not np.isfinite(dof) else stdtr(dof, -z)))

    def to_dict(self) -> dict:
        """JSON-able form (the store keeps a study's estimate)."""
        return {
            "sd": {k: float(v) for k, v in self.sd.items()},
            "dof": {k: (None if not np.isfinite(v) else float(v)) for k, v in self.dof.items()},
            "source": dict(self.source),
            "tail": {k: [float(x) for x in v] for k, v in self.tail.items()},
        }

    @classmethod
    def from_dict(cls, d: dict | Variability | None) -> Variability:
        """Inverse of :meth:`to_dict` (``None``: the defaults; a Variability: itself)."""
        if isinstance(d, cls):
            return d
        if not d:
            return cls.default()
        return cls(
            dict(d.get("sd", {})),
            {k: (np.inf if v is None else float(v)) for k, v in d.get("dof", {}).items()},
            dict(d.get("source", {})),
            {k: tuple(v) for k, v in d.get("tail", {}).items()},
        )


def _successive(values: np.ndarray, ses: np.ndarray) -> tuple[float, float, int, list]:
    """Sum of squared successive differences, of their expected measurement part, the count, and the
    pairs ``[difference, measurement variance]`` themselves."""
    ok = np.isfinite(values)
    v, s = values[ok], np.where(np.isfinite(ses[ok]), ses[ok], 0.0)
    if len(v) < 2:
        return 0.0, 0.0, 0, []
    d = np.diff(v)
    meas = s[1:] ** 2 + s[:-1] ** 2
    pairs = [[float(x), float(m)] for x, m in zip(d, meas)]
    return float(np.sum(d**2)), float(meas.sum()), len(d), pairs


def variability_sums(series: dict) -> dict:
    """The statistics of :func:`estimate_variability`.

    ``{measure: [Σ Δx², Σ se², pairs, series, [[Δx, se²_k + se²_{k+1}], ...]]}``:
    the sums, and the session pairs themselves (for the shape of their
    tails, :func:`tail_shape`).

    Those of several groups of people add up (:func:`add_sums`), so a study
    can keep them per subject and leave a subject's own out (:func:`from_sums`).
    """
    out = {}
    for name, series_ in series.items():
        d2 = meas = 0.0
        n = people = 0
        kept: list = []
        for values, ses in series_:
            a, b, k, pairs = _successive(np.asarray(values, float), np.asarray(ses, float))
            d2, meas, n, people = d2 + a, meas + b, n + k, people + (k > 0)
            kept += pairs
        if n:
            out[name] = [d2, meas, n, people, kept]
    return out


def tail_shape(pairs, tau: float) -> tuple[float, float] | None:
    """Student-t degrees of freedom and scale of a study's standardised session differences.

    Parameters
    ----------
    pairs : list of [difference, measurement variance]
        Session pairs of several people with nothing changed between them.
    tau : float
        The between-session SD estimated from the same pairs.

    Returns
    -------
    (dof, scale) | None
        The maximum-likelihood Student-t (centred) of ``z = Δx / √(se² + 2τ²)``.
        None with fewer than :data:`MIN_TAIL_PAIRS` pairs, or when the
        differences are not heavier-tailed than a normal law's (``dof``
        above :data:`MAX_TAIL_DOF`, or a likelihood ratio against the
        normal law below :data:`TAIL_LR`): the tests then use the normal law.

    Notes
    -----
    ``τ`` makes the differences' *variance* right, but people differ in how
    much they vary (one's alpha power drifts with vigilance, another's does
    not), and electrodes fail now and then; the differences of a study are
    then a scale mixture of normal laws, with heavier tails. On the real
    resting recordings of ``../shared/data`` cut into parts
    (``benchmarks/validation/longitudinal.py``) 5 % of the channels'
    relative alpha power differences were beyond 3.29 standardised units,
    where a normal law puts 0.1 %. A reliable-change test that assumes the
    normal law then alarms far more often than it says. The Student-t is
    the scale mixture of normals with an inverse-gamma mixing law (Lange,
    Little & Taylor 1989, JASA 84:881), fitted here by maximum likelihood;
    its degrees of freedom are kept above :data:`MIN_TAIL_DOF` (a finite
    variance, which ``τ`` presumes, needs more than 2).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.variability import tail_shape
    >>> rng = np.random.default_rng(0)
    >>> light = [[x, 0.0] for x in rng.normal(0, 1, 400)]
    >>> tail_shape(light, 1 / np.sqrt(2)) is None
    True
    >>> heavy = [[x, 0.0] for x in rng.standard_t(3, 400)]
    >>> dof, scale = tail_shape(heavy, np.sqrt(3 / 2))
    >>> 2 < dof < 6
    True
    """
    from scipy.stats import norm
    from scipy.stats import t as student

    arr = np.asarray(pairs, float).reshape(-1, 2)
    sd = np.sqrt(arr[:, 1] + 2 * tau**2)
    ok = np.isfinite(arr[:, 0]) & (sd > 0)
    if ok.sum() < MIN_TAIL_PAIRS:
        return None
    z = arr[ok, 0] / sd[ok]
    if len(z) > MAX_TAIL_PAIRS:  # a large study: an even, deterministic subset is plenty for 2 numbers
        z = z[np.linspace(0, len(z) - 1, MAX_TAIL_PAIRS).astype(int)]
    if not np.mean(z**2) > 0:  # no differences at all
        return None
    dof, scale = _centred_t(z)
    if not (np.isfinite(dof) and np.isfinite(scale) and scale > 0) or dof > MAX_TAIL_DOF:
        return None
    # heavier tails only where the pairs show them: the likelihood ratio against the normal law
    # (its df on the boundary: half chi2(0) + half chi2(1), 5 % at 2.71; Self & Liang 1987)
    gain = np.sum(student.logpdf(z, dof, scale=scale)) - np.sum(norm.logpdf(z, scale=np.sqrt(np.mean(z**2))))
    if 2 * gain < TAIL_LR:
        return None
    return float(dof), float(scale)


def _centred_t(z: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood degrees of freedom (at least :data:`MIN_TAIL_DOF`) and scale of a Student-t
    centred on 0.

    L-BFGS-B on ``(log ν, log s)`` with the analytic gradient of the
    log-likelihood ``Σ lnΓ((ν+1)/2) - lnΓ(ν/2) - ½ ln(νπ) - ln s - (ν+1)/2 ln(1 + z²/(ν s²))``.
    ``scipy.stats.t.fit(z, floc=0)`` finds the same maximum by Nelder-Mead
    on the generic density, about 15x slower; every twin a store loads
    fits its study's tails (one per measure), so that cost was most of a
    rerun with nothing to do. The bound is where the free fit would have
    been refitted with ``ν`` fixed at the minimum.
    """
    from scipy.optimize import minimize
    from scipy.special import digamma, gammaln

    u = np.asarray(z, float) ** 2

    def nll(p):
        nu, log_s = np.exp(p[0]), p[1]
        r = u / (nu * np.exp(2 * log_s))
        log1p_r, share = np.log1p(r).mean(), (r / (1 + r)).mean()
        norm_const = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
        ll = norm_const - log_s - (nu + 1) / 2 * log1p_r
        d_psi = digamma((nu + 1) / 2) - digamma(nu / 2)
        d_nu = 0.5 * (d_psi - 1 / nu - log1p_r) + (nu + 1) / (2 * nu) * share
        return -ll, -np.array([d_nu * nu, (nu + 1) * share - 1])

    start = np.array([np.log(10.0), 0.5 * np.log(np.mean(u))])
    bounds = [(np.log(MIN_TAIL_DOF), np.log(1e4)), (None, None)]
    with np.errstate(all="ignore"):
        fit = minimize(nll, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return float(np.exp(fit.x[0])), float(np.exp(fit.x[1]))


def paule_mandel(pairs) -> float:
    """Between-session variance ``τ²`` from session differences ``[[Δx, m], ...]`` (``m``: their SEs²).

    The ``τ²`` at which the weighted sum ``Σ Δx² / (m + 2τ²)`` equals the
    number of pairs, its expectation (0 when it is below that at ``τ² =
    0``): the Paule-Mandel estimator (Paule & Mandel 1982; recommended for
    random-effects meta-analysis by Veroniki et al. 2016, Res Synth Methods
    7:55). Each pair counts by its own precision, so a few pairs with a
    huge SE (a barely detected alpha peak whose jackknife SE is 1-2 Hz) no
    longer swamp the rest, as they do the moment estimator
    ``(Σ Δx² - Σ m) / 2n``, which they pushed to 0.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.variability import paule_mandel
    >>> rng = np.random.default_rng(0)
    >>> m = np.where(rng.uniform(size=2000) < 0.05, 4.0, 0.01)  # 5 % of the SEs are 2 (Hz)
    >>> d = rng.normal(0, np.sqrt(m + 2 * 0.1**2))  # tau 0.1
    >>> round(float(np.sqrt(paule_mandel(np.c_[d, m]))), 2)
    0.1
    """
    from scipy.optimize import brentq

    a = np.asarray(pairs, float).reshape(-1, 2)
    a = a[np.isfinite(a).all(axis=1)]
    d2, m = a[:, 0] ** 2, np.maximum(a[:, 1], 0.0)
    n = len(a)
    if n == 0 or not d2.any():
        return 0.0

    def excess(t):
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum(np.where(d2 > 0, d2 / (m + 2 * t), 0.0))) - n

    if excess(0.0) <= 0:
        return 0.0
    hi = d2.sum() / (2 * n)  # there the sum is at most n (exactly n when no pair has a measured SE)
    lo = hi * 1e-12
    if excess(hi) >= 0:
        return hi
    if excess(lo) <= 0:
        return lo
    return float(brentq(excess, lo, hi, xtol=hi * 1e-9))


def from_sums(sums: dict, *, source: str = "study") -> Variability:
    """A :class:`Variability` from (added-up) :func:`variability_sums`.

    Examples
    --------
    >>> from neurotwin.twin.variability import from_sums
    >>> from_sums({"iaf": [0.5, 0.1, 10, 5]}).sd["iaf"]  # sqrt((0.5 - 0.1) / 20)
    0.1414213562373095
    """
    out = Variability()
    for name, (d2, meas, n, people, *pairs) in sums.items():
        if n <= 0:
            continue
        if pairs and len(pairs[0]) == n:  # each pair by its own precision (paule_mandel)
            out.sd[name] = float(np.sqrt(paule_mandel(pairs[0])))
        else:  # sums kept before 0.1: the moment estimator
            out.sd[name] = float(np.sqrt(max(0.0, (d2 - meas) / (2 * n))))
        out.dof[name] = float(n)
        out.source[name] = f"{source} ({int(people)} series, {int(n)} session pairs)"
        shape = tail_shape(pairs[0], out.sd[name]) if pairs else None  # (sums kept before 0.1: none)
        if shape is not None:
            out.tail[name] = shape
            out.source[name] += f", Student-t tails ({shape[0]:.1f} dof)"
    return out


def add_sums(parts) -> dict:
    """Add up several :func:`variability_sums`."""
    total: dict = {}
    for part in parts:
        for name, vals in part.items():
            acc = total.setdefault(name, [0.0, 0.0, 0, 0, []])
            for i, v in enumerate(vals):
                acc[i] = acc[i] + (list(v) if i == 4 else v)
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
        ``τ²`` by :func:`paule_mandel` over all successive pairs, with
        ``n`` pairs as its degrees of freedom.

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
