"""MAP estimation with restarts and a Laplace posterior, in an unconstrained parameter space.

Every twin parameter has a transform to the real line (``log`` for
positive quantities, ``logneg`` for negative ones, ``identity``) and a
Gaussian prior there. The negative log posterior is minimised with SciPy's
L-BFGS-B from the prior mean and from ``restarts`` draws of the prior; the
posterior is the Laplace approximation at the best optimum: its covariance
is the inverse Hessian of the negative log posterior, differentiated
numerically (forward differences) from the objective's gradient.

Why by hand: scikit-learn has no Laplace posterior for a user likelihood,
and PyMC/NumPyro (sampling) are far slower than the seconds a twin update
may take; this is the ~100 lines the closed-form likelihoods need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from .._logging import logger
from .._validation import check_random_state
from ..errors import FitError

__all__ = [
    "PLAUSIBLE_Z",
    "Posterior",
    "Prior",
    "fit_map",
    "from_unconstrained",
    "plausible_range",
    "to_unconstrained",
]

TRANSFORMS = ("identity", "log", "logneg")
#: an estimate further than this many template-prior sds from the prior's mean (outside its central
#: 99 %) is implausible
PLAUSIBLE_Z = 2.576


def to_unconstrained(value, transform: str):
    """Natural value -> real line."""
    value = np.asarray(value, float)
    if transform == "log":
        return np.log(value)
    if transform == "logneg":
        return np.log(-value)
    return value


def from_unconstrained(theta, transform: str):
    """Real line -> natural value."""
    theta = np.asarray(theta, float)
    if transform == "log":
        return np.exp(theta)
    if transform == "logneg":
        return -np.exp(theta)
    return theta


def plausible_range(mean: float, sd: float, transform: str) -> tuple[float, float]:
    """The natural-scale central 99 % of a Gaussian prior on the unconstrained scale.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.inference import plausible_range
    >>> [round(v, 2) for v in plausible_range(np.log(6.0), 0.5, "log")]  # conduction velocity, m/s
    [1.65, 21.75]
    """
    lo, hi = (float(from_unconstrained(mean + k * PLAUSIBLE_Z * sd, transform)) for k in (-1, 1))
    return (lo, hi) if lo <= hi else (hi, lo)


@dataclass(frozen=True)
class Prior:
    """Independent Gaussian priors on the unconstrained parameters.

    Attributes
    ----------
    names : list of str
        Parameter names (``"G"``, ``"a[lh_V1]"``, ...).
    transforms : list of str
        One of ``identity``, ``log``, ``logneg`` per parameter.
    mean, sd : ndarray
        Prior mean and standard deviation on the unconstrained scale.
    cov : ndarray | None
        A full covariance instead (e.g. the previous session's posterior plus drift).
    labels, units : list of str | None
        Each parameter's human name and natural-scale unit (the objective's
        declaration); the posterior inherits them.
    """

    names: list
    transforms: list
    mean: np.ndarray
    sd: np.ndarray
    cov: np.ndarray | None = None
    labels: list | None = None
    units: list | None = None

    def __post_init__(self):
        n = len(self.names)
        if not (len(self.transforms) == len(self.mean) == len(self.sd) == n):
            raise FitError("prior names, transforms, means and sds differ in length.")
        if not set(self.transforms) <= set(TRANSFORMS):
            raise FitError(f"transforms must be among {TRANSFORMS}.")
        _check_described(self.names, self.labels, self.units)

    def natural(self, theta: np.ndarray) -> dict[str, float]:
        """Natural-scale values by name."""
        return {n: float(from_unconstrained(t, tr)) for n, t, tr in zip(self.names, theta, self.transforms)}


@dataclass(frozen=True)
class Posterior:
    """A Gaussian posterior on the unconstrained scale (Laplace approximation).

    Attributes
    ----------
    names, transforms : list
        As in :class:`Prior`.
    mean : ndarray, shape (P,)
    cov : ndarray, shape (P, P)
    extra : dict
        Parameters fitted by MAP without a posterior (e.g. edge modifiers), name -> array.
    labels, units : list of str | None
        Human names and natural-scale units, as in :class:`Prior`.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin import Posterior
    >>> post = Posterior(["f", "velocity"], ["identity", "log"], np.array([10.2, np.log(6.0)]),
    ...                  np.diag([0.01, 0.04]), labels=["alpha frequency", "conduction velocity"],
    ...                  units=["Hz", "m/s"])
    >>> post
    <Posterior | 2 parameters: alpha frequency 10.2 Hz [10, 10.4], conduction velocity 6 m/s [4.32, 8.34]>
    >>> print(post.summary()[["label", "unit", "median"]].round(2).to_string(index=False))
                  label unit  median
        alpha frequency   Hz    10.2
    conduction velocity  m/s     6.0
    """

    names: list
    transforms: list
    mean: np.ndarray
    cov: np.ndarray
    extra: dict = field(default_factory=dict)
    labels: list | None = None
    units: list | None = None

    def __post_init__(self):
        _check_described(self.names, self.labels, self.units)

    @property
    def sd(self) -> np.ndarray:
        """Posterior standard deviations (unconstrained)."""
        return np.sqrt(np.clip(np.diag(self.cov), 0, None))

    def interval(self, level: float = 0.9) -> dict[str, tuple[float, float, float]]:
        """Natural-scale (mean-point, low, high) central credible intervals by name.

        The point is the transformed posterior mean (the median on the natural scale).
        """
        from scipy.stats import norm

        z = norm.ppf(0.5 + level / 2)
        out = {}
        for i, (n, tr) in enumerate(zip(self.names, self.transforms)):
            lo, hi = self.mean[i] - z * self.sd[i], self.mean[i] + z * self.sd[i]
            with np.errstate(over="ignore"):  # a prior-wide interval of a log parameter may reach inf
                vals = sorted([float(from_unconstrained(lo, tr)), float(from_unconstrained(hi, tr))])
            out[n] = (float(from_unconstrained(self.mean[i], tr)), vals[0], vals[1])
        return out

    def sample(self, n: int, random_state=None) -> np.ndarray:
        """Draws ``(n, P)`` on the unconstrained scale."""
        rng = check_random_state(random_state)
        return rng.multivariate_normal(self.mean, self.cov, size=n, method="eigh")

    def label(self, name: str) -> tuple[str, str]:
        """A parameter's human name and unit (its code name and ``""`` when not declared)."""
        i = list(self.names).index(name)
        return (self.labels[i] if self.labels else name), (self.units[i] if self.units else "")

    def summary(self, level: float = 0.9, *, offsets: bool = False):
        """The parameters as a table: name, human name, unit, median and central credible interval.

        Parameters
        ----------
        level : float
            Credible level of the interval (0.9: 5th to 95th percentile).
        offsets : bool
            Include the per-channel and per-region offsets (names with ``[...]``); by
            default only the global parameters.

        Returns
        -------
        table : pandas.DataFrame
            ``name, label, unit, median, low, high`` on the natural scale.

        Examples
        --------
        >>> import numpy as np
        >>> from neurotwin.twin import Posterior
        >>> post = Posterior(["f"], ["identity"], np.array([10.0]), np.array([[0.01]]),
        ...                  labels=["alpha frequency"], units=["Hz"])
        >>> post.summary().round(2).to_dict("records")
        [{'name': 'f', 'label': 'alpha frequency', 'unit': 'Hz', 'median': 10.0, 'low': 9.84, 'high': 10.16}]
        """
        import pandas as pd

        rows = []
        for name, (mid, lo, hi) in self.interval(level).items():
            if "[" in name and not offsets:
                continue
            label, unit = self.label(name)
            rows.append({"name": name, "label": label, "unit": unit, "median": mid, "low": lo, "high": hi})
        return pd.DataFrame(rows, columns=["name", "label", "unit", "median", "low", "high"])

    def __repr__(self) -> str:
        shown = [n for n in self.names if "[" not in n][:4]
        intervals = self.interval(0.9)
        parts = []
        for n in shown:
            mid, lo, hi = intervals[n]
            label, unit = self.label(n)
            unit = f" {unit}" if unit and unit != "1" else ""
            parts.append(f"{label} {mid:.3g}{unit} [{lo:.3g}, {hi:.3g}]")
        more = len(self.names) - len(shown)
        return (
            f"<Posterior | {len(self.names)} parameters: {', '.join(parts)}"
            f"{f', ... ({more} more)' if more else ''}>"
        )


def _check_described(names, labels, units) -> None:
    for what, values in (("labels", labels), ("units", units)):
        if values is not None and len(values) != len(names):
            raise FitError(f"{len(values)} {what} for {len(names)} parameters.")


def fit_map(
    objective,
    prior: Prior,
    *,
    n_extra: int = 0,
    extra_sd: float = 1.0,
    extra_mean=None,
    x0=None,
    restarts: int = 1,
    random_state=None,
    maxiter: int = 500,
    hessian: bool = True,
    tol: float | None = None,
) -> tuple[Posterior, dict]:
    """Minimise ``objective(theta) -> (nll, grad)`` plus the Gaussian prior; Laplace at the optimum.

    Parameters
    ----------
    objective : callable
        Negative log-likelihood and its gradient, over ``P + n_extra`` values
        (the prior's parameters first, then the extra ones).
    prior : Prior
        Priors of the first P values.
    n_extra : int
        Extra values (MAP only, prior N(extra_mean, extra_sd²), no posterior).
    extra_mean : ndarray | None
        Prior mean of the extra values (default 0).
    x0 : ndarray | list of ndarray | None
        Starting point(s) (default: the prior mean, extras at their prior mean).
    restarts : int
        Additional starts drawn from the prior.
    maxiter : int
        L-BFGS-B iterations per start.
    hessian : bool
        Compute the Laplace covariance (else the prior's). An objective
        with a ``fisher(theta)`` method gives its expected information
        instead of second differences of its gradient.
    tol : float | None
        Stop when an iteration improves the negative log posterior by less
        than this (nats; default: SciPy's relative tolerance, ~2e-9 of it),
        and a restart of the optimiser from there gains less than it too.

    Returns
    -------
    posterior : Posterior
    info : dict
        ``nll`` (at the optimum, likelihood only), ``n_evals``, ``converged``, ``starts`` (objective
        values of every start), ``warnings`` (identifiability).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.inference import Prior, fit_map
    >>> prior = Prior(["m"], ["identity"], np.array([0.0]), np.array([10.0]))
    >>> data = np.array([1.9, 2.1, 2.0])
    >>> def nll(t):
    ...     return 0.5 * ((data - t[0]) ** 2).sum(), np.array([(t[0] - data).sum()])
    >>> post, info = fit_map(nll, prior)
    >>> # conjugate result: mean 6 / (3 + 1/100) = 1.993, sd 1 / sqrt(3.01) = 0.576
    >>> round(float(post.mean[0]), 2), round(float(post.sd[0]), 2)
    (1.99, 0.58)
    """
    rng = check_random_state(random_state)
    p = len(prior.names)
    cov0 = np.diag(prior.sd**2) if prior.cov is None else np.asarray(prior.cov, float)
    prec = np.linalg.inv(cov0)
    prec = (prec + prec.T) / 2
    extra_center = np.zeros(n_extra) if extra_mean is None else np.asarray(extra_mean, float)
    center = np.concatenate([prior.mean, extra_center])
    evals = [0]

    # keep every parameter within 8 prior sds and the objective's own domain (its ``bounds``, on the
    # unconstrained scale). Outside, the objective is continued smoothly: its value at the nearest
    # admissible point plus a steep quadratic wall. (L-BFGS-B's own bounds make its first Cauchy
    # step jump to a corner of the box, where the model is far from the data, and stall.)
    width = 8 * np.sqrt(np.diag(cov0))
    lo, hi = prior.mean - width, prior.mean + width
    for i, (b_lo, b_hi) in enumerate(getattr(objective, "bounds", [(None, None)] * p)[:p]):
        lo[i] = lo[i] if b_lo is None else max(lo[i], b_lo)
        hi[i] = hi[i] if b_hi is None else min(hi[i], b_hi)
    lo = np.concatenate([lo, np.full(n_extra, -np.inf)])
    hi = np.concatenate([hi, np.full(n_extra, np.inf)])
    wall = 1e4

    def total(theta):
        evals[0] += 1
        inside = np.clip(theta, lo, hi)
        excess = theta - inside
        nll, grad = objective(inside)
        if not np.isfinite(nll):
            return 1e300, np.zeros_like(theta)
        grad = np.where(excess != 0, 0.0, grad) + 2 * wall * excess
        nll = nll + wall * float(excess @ excess)
        d = theta - center
        pd = prec @ d[:p]
        de = d[p:] / extra_sd**2
        penalty = 0.5 * (d[:p] @ pd + d[p:] @ de)
        return nll + penalty, grad + np.concatenate([pd, de])

    if x0 is None:
        starts = [center.copy()]
    else:
        starts = [np.array(x, dtype=float) for x in (x0 if isinstance(x0, list) else [x0])]
        # a start of the prior's parameters only: the extras start at their prior mean
        starts = [np.concatenate([s, extra_center]) if len(s) == p and n_extra else s for s in starts]
    for _ in range(restarts):
        s = center.copy()
        s[:p] = prior.mean + 0.5 * np.sqrt(np.diag(cov0)) * rng.standard_normal(p)
        starts.append(s)
    # the optimiser works in prior-standardised coordinates z = θ / sd, where the prior's curvature
    # is the identity: parameters of very different scales (a frequency in Hz, thousands of connection
    # modifiers) then take comparable steps, which L-BFGS needs to converge in few iterations
    scale = np.concatenate([np.sqrt(np.diag(cov0)), np.full(n_extra, float(extra_sd))])

    def scaled(z):
        value, grad = total(z * scale)
        return value, grad * scale

    best, values = None, []
    for s in starts:
        s = np.clip(s, lo, hi)
        options = {"maxiter": maxiter}
        if tol is not None:
            options["ftol"] = tol / max(abs(total(s)[0]), 1.0)
        res = minimize(scaled, s / scale, jac=True, method="L-BFGS-B", options=options)
        # a stop on the tolerance can come from a stale curvature memory (a long narrow valley) rather
        # than the optimum: restart from there while a fresh run still gains the tolerance or more
        used = res.nit
        while tol is not None and res.success and used < maxiter:
            again = minimize(
                scaled, res.x, jac=True, method="L-BFGS-B", options={**options, "maxiter": maxiter - used}
            )
            used += max(again.nit, 1)
            gained = res.fun - again.fun
            if again.fun < res.fun:
                res = again
            if gained < tol:
                break
        res.x = res.x * scale
        values.append(float(res.fun))
        if best is None or res.fun < best.fun:
            best = res
    if best is None or not np.isfinite(best.fun) or best.fun >= 1e300:
        raise FitError("the fit found no finite likelihood; check the features (units, ranges).")
    theta = np.clip(best.x, lo, hi)
    cov = cov0
    warnings = []
    if hessian:
        if hasattr(objective, "fisher"):  # (over the prior's parameters; extras held at the optimum)
            # the likelihood's expected information (exact, no second differences) plus the prior's
            h = np.asarray(objective.fisher(theta), float) + prec
            w, v = np.linalg.eigh((h + h.T) / 2)
            cov = (v / np.clip(w, 1e-8 * max(w.max(), 1e-12), None)) @ v.T
        else:
            cov = _laplace(total, theta, p)
        warnings = _identifiability(prior.names, np.sqrt(np.diag(cov0)), cov)
    nll = float(objective(theta)[0])
    edge = 1e-6 * np.maximum(1.0, np.abs(theta[:p]))
    at_bound = [
        n for n, t, a, b, e in zip(prior.names, theta[:p], lo[:p], hi[:p], edge) if t - a <= e or b - t <= e
    ]
    info = {
        "nll": nll,
        "n_evals": evals[0],
        "converged": bool(best.success),
        "message": str(best.message),
        "starts": values,
        "warnings": warnings,
        "at_bound": at_bound,
    }
    if not best.success:
        logger.info("fit stopped before convergence: %s", best.message)
    return Posterior(
        list(prior.names),
        list(prior.transforms),
        theta[:p].copy(),
        cov,
        {"theta_extra": theta[p:].copy()} if n_extra else {},
        prior.labels,
        prior.units,
    ), info


def sandwich(cov: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Widen a Laplace covariance to the spread the data's own blocks show (robust, never narrower).

    The Laplace/Fisher covariance ``Σ = H⁻¹`` is right only if the
    likelihood is: if the model is misspecified or the data's units are
    not independent (neighbouring epochs of EEG are not), the estimate
    varies more. The sandwich (Huber 1967; White 1982) measures that
    variance, ``H⁻¹ J H⁻¹``, with ``J = K/(K-1) Σ_b u_b u_bᵀ`` the spread
    of the ``K`` blocks' centred scores ``u_b`` (batch means: contiguous
    blocks keep the dependence inside them). With ``K`` blocks and
    hundreds of parameters ``J`` is low-rank, so only its diagonal is
    used: each parameter's variance is multiplied by
    ``max(1, [H⁻¹ J H⁻¹]_ii / Σ_ii)`` and the correlations of ``Σ`` kept.
    A parameter that the prior dominates keeps the prior's width.

    Returns
    -------
    cov : ndarray, shape (P, P)
    inflation : ndarray, shape (P,)
        The factor each standard deviation was multiplied by (>= 1).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.inference import sandwich
    >>> cov, k = sandwich(np.diag([1.0, 1.0]), np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 0.1]]))
    >>> k.round(2).tolist()
    [5.2, 1.0]
    """
    cov = np.asarray(cov, float)
    u = np.asarray(scores, float)
    k = len(u)
    proj = u @ cov  # (K, P): each block's pull H⁻¹ u_b
    robust = k / (k - 1) * np.sum(proj**2, axis=0)
    base = np.clip(np.diag(cov), 1e-300, None)
    factor = np.sqrt(np.maximum(1.0, robust / base))
    return cov * np.outer(factor, factor), factor


def own_evidence(
    mean, cov, prior: Prior, template: Prior, factor=None, grad=None
) -> tuple[np.ndarray, np.ndarray]:
    """What one session says by itself: its estimate as if fitted alone with the template prior.

    A sequential update's posterior ``N(m, V)`` combines the session's
    likelihood with everything before it (the prior ``N(m_p, P)``), so two
    states are neither independent nor each the session's own measurement.
    Under the Laplace approximation the session's likelihood has precision
    ``V⁻¹ - P⁻¹``; with the template prior ``N(m_t, T)`` instead, the
    session alone would give precision ``A = V⁻¹ - P⁻¹ + T⁻¹`` and (one
    Gauss-Newton step from ``m``, where the likelihood's gradient is
    ``P⁻¹ (m - m_p)``) the mean ``m - A⁻¹ [T⁻¹ (m - m_t) - P⁻¹ (m - m_p)]``.
    With ``grad``, the likelihood's gradient at ``m`` (a fit stopped by a
    tolerance is not exactly at the optimum), the step uses it instead:
    ``m - A⁻¹ [grad + T⁻¹ (m - m_t)]``. With a sandwich ``factor`` the
    standard deviations are widened as the posterior's were. For a first
    session (``prior`` is ``template``) this is (about) the posterior itself.

    Returns
    -------
    mean : ndarray, shape (P,)
    sd : ndarray, shape (P,)

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.inference import Prior, own_evidence
    >>> # template N(0, 100); previous sessions N(10, 1); this session's likelihood N(9, 1)
    >>> template = Prior(["f"], ["identity"], np.array([0.0]), np.array([10.0]))
    >>> prior = Prior(["f"], ["identity"], np.array([10.0]), np.array([1.0]))
    >>> m, sd = own_evidence([9.5], [[0.5]], prior, template)
    >>> round(float(m[0]), 3), round(float(sd[0]), 3)  # the session alone: N(9, 1) shrunk a little to 0
    (8.911, 0.995)
    """
    m, v = np.asarray(mean, float), np.asarray(cov, float)

    def moments(pr: Prior):
        c = np.diag(np.asarray(pr.sd, float) ** 2) if pr.cov is None else np.asarray(pr.cov, float)
        return np.asarray(pr.mean, float), np.linalg.inv(c)

    mp, pinv = moments(prior)
    mt, tinv = moments(template)
    a = np.linalg.inv(v) - pinv + tinv
    w, u = np.linalg.eigh((a + a.T) / 2)
    w = np.clip(w, 1e-10 * max(w.max(), 1e-12), None)  # numerically PSD: the template keeps it PD
    a_inv = (u / w) @ u.T
    lik_grad = -pinv @ (m - mp) if grad is None else np.asarray(grad, float)
    own = m - a_inv @ (lik_grad + tinv @ (m - mt))
    sd = np.sqrt(np.clip(np.diag(a_inv), 0, None))
    if factor is not None:
        sd = sd * np.asarray(factor, float)
    return own, sd


def numeric_hessian(fun, theta: np.ndarray, p: int) -> np.ndarray:
    """Symmetric Hessian of the first p coordinates: forward differences of ``fun``'s analytic gradient.

    ``fun(theta) -> (value, grad)``; entries where a step left the model's domain are 0 (no curvature).
    """
    theta = np.asarray(theta, float)
    h = np.empty((p, p))
    g0 = fun(theta)[1][:p]
    for i in range(p):
        step = 1e-5 * max(1.0, abs(theta[i]))
        up = theta.copy()
        up[i] += step
        h[:, i] = (fun(up)[1][:p] - g0) / step
    h = (h + h.T) / 2
    return np.where(np.isfinite(h), h, 0.0)


def _laplace(total, theta: np.ndarray, p: int) -> np.ndarray:
    """Inverse Hessian of the first p coordinates (forward differences of the analytic gradient)."""
    h = numeric_hessian(total, theta, p)
    w, v = np.linalg.eigh(h)
    w = np.clip(w, 1e-8 * max(w.max(), 1e-12), None)  # a flat direction gets a wide, finite variance
    return (v / w) @ v.T


def _identifiability(names: list, prior_sd: np.ndarray, cov: np.ndarray) -> list[str]:
    """Parameters the data barely inform (posterior sd > 0.7 prior sd) and near-degenerate pairs."""
    sd = np.sqrt(np.diag(cov))
    out = []
    weak = [n for n, s, s0 in zip(names, sd, prior_sd) if s > 0.7 * s0]
    # per-region/-channel parameters ("x[label]") are counted per kind, not listed one by one
    kinds: dict[str, list[int]] = {}
    for n in names:
        if "[" in n:
            kind = n.split("[")[0]
            kinds.setdefault(kind, [0, 0])[1] += 1
    for n in weak:
        if "[" in n:
            kinds[n.split("[")[0]][0] += 1
    weak_global = [n for n in weak if "[" not in n]
    weak_kinds = [f"{k} {c[0]}/{c[1]}" for k, c in kinds.items() if c[0]]
    if weak_global or weak_kinds:
        out.append(
            "weakly identified (posterior sd > 70% of the prior's): "
            + ", ".join(weak_global[:8] + weak_kinds)
        )
    corr = cov / np.outer(sd, sd)
    iu = np.triu_indices(len(sd), 1)
    strong = [(names[i], names[j]) for i, j in zip(*iu) if abs(corr[i, j]) > 0.95]
    if strong:
        out.append(
            "strongly correlated (|r| > 0.95), only their combination is determined: "
            + ", ".join(f"{a}~{b}" for a, b in strong[:5])
        )
    return out
