"""Trajectories, change detection and forecasts over a twin's states.

Change in a parameter: the difference between a session's posterior and
the baseline's (the first session) is Gaussian on the unconstrained scale
with variance ``v_t + v_0 + q Δt`` (both posteriors plus the drift the
twin allows; treating them as independent is conservative). A change is
flagged when ``P(Δ > δ)`` or ``P(Δ < -δ)`` exceeds 0.95 for a clinically meaningful ``δ``
(``Twin.change_thresholds``: Hz for the alpha frequency, log-ratios for
positive parameters). On features, the Jacobson-Truax reliable-change
index ``RCI = (x_t - x_0) / (√2 · SD_meas)`` with a test-retest
measurement SD (:data:`FEATURE_SD`), flagged when ``|RCI| > 1.96`` (5 %
false alarms per comparison when nothing changes).

Forecast: a weighted least-squares linear trend through the states'
posterior means (random walk when there are fewer than three), with a
predictive variance of the last posterior, the drift over the horizon and
the trend's own uncertainty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..errors import ConfigError
from .inference import from_unconstrained

__all__ = ["FEATURE_SD", "changes", "forecast", "trajectory"]

#: test-retest measurement SD of summary features (defaults; pass your lab's own)
FEATURE_SD = {"iaf": 0.25, "aperiodic_exponent": 0.15, "fc_mean": 0.03}


def _index(twin, name: str) -> int:
    names = twin.states_[0].posterior.names
    if name not in names:
        from .._validation import did_you_mean

        raise ConfigError(f"the twin has no parameter {name!r}.{did_you_mean(name, names)}")
    return names.index(name)


def trajectory(twin, name: str, level: float = 0.9) -> pd.DataFrame:
    """One parameter across sessions: posterior median and central credible band (natural scale).

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> from neurotwin.twin.longitudinal import trajectory
    >>> trajectory(Twin("01"), "f").empty  # no session yet
    True
    """
    if not twin.states_:
        return pd.DataFrame(columns=["session", "at", "value", "low", "high"])
    _index(twin, name)
    rows = []
    for s in twin.states_:
        mid, lo, hi = s.posterior.interval(level)[name]
        rows.append({"session": s.session, "at": s.at, "value": mid, "low": lo, "high": hi})
    return pd.DataFrame(rows)


def changes(twin, *, probability: float = 0.95, feature_sd: dict | None = None) -> pd.DataFrame:
    """Every later session against the baseline: parameters (posterior probability) and features (RCI).

    Returns
    -------
    table : pandas.DataFrame
        ``session, at, kind, name, baseline, value, threshold, score, flagged``; ``score`` is
        ``max(P(Δ > threshold), P(Δ < -threshold))`` for parameters and the RCI for features.

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> from neurotwin.twin.longitudinal import changes
    >>> changes(Twin("01")).empty
    True
    """
    cols = ["session", "at", "kind", "name", "baseline", "value", "threshold", "score", "flagged"]
    if len(twin.states_) < 2:
        return pd.DataFrame(columns=cols)
    sd_meas = {**FEATURE_SD, **(feature_sd or {})}
    base = twin.states_[0]
    names, transforms = base.posterior.names, base.posterior.transforms
    rows = []
    for s in twin.states_[1:]:
        for name, delta in twin.change_thresholds.items():
            if name not in names:
                continue
            i = names.index(name)
            m = s.posterior.mean[i] - base.posterior.mean[i]
            var = s.posterior.cov[i, i] + base.posterior.cov[i, i] + twin.process_noise * (s.at - base.at)
            sd = np.sqrt(var)
            # one direction at a time: a wide posterior is not evidence of change
            p = max(norm.cdf((-delta - m) / sd), norm.sf((delta - m) / sd))
            rows.append({"session": s.session, "at": s.at, "kind": "parameter", "name": name,
                         "baseline": float(from_unconstrained(base.posterior.mean[i], transforms[i])),
                         "value": float(from_unconstrained(s.posterior.mean[i], transforms[i])),
                         "threshold": delta, "score": float(p), "flagged": bool(p > probability)})
        for feat, sd_f in sd_meas.items():
            if feat in base.features and feat in s.features:
                rci = (s.features[feat] - base.features[feat]) / (np.sqrt(2) * sd_f)
                rows.append({"session": s.session, "at": s.at, "kind": "feature", "name": feat,
                             "baseline": base.features[feat], "value": s.features[feat], "threshold": 1.96,
                             "score": float(rci), "flagged": bool(abs(rci) > 1.96)})
    return pd.DataFrame(rows, columns=cols)


def _trend(times, means, variances):
    """WLS line through (t, mean) with weights 1/var: (slope, slope variance)."""
    t, y, w = np.asarray(times), np.asarray(means), 1 / np.asarray(variances)
    x = np.column_stack([np.ones_like(t), t])
    cov = np.linalg.inv(x.T @ (x * w[:, None]))
    beta = cov @ (x.T @ (w * y))
    resid = y - x @ beta
    dof = max(len(t) - 2, 1)
    scale = max(1.0, float(np.sum(w * resid ** 2) / dof))  # over-dispersion widens the trend
    return float(beta[1]), float(cov[1, 1] * scale)


def forecast(twin, at: float, *, level: float = 0.9, names=None,
             feature_sd: dict | None = None) -> pd.DataFrame:
    """Predicted parameters (and summary features) at day ``at`` with predictive intervals.

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> from neurotwin.twin.longitudinal import forecast
    >>> try:
    ...     forecast(Twin("01"), 30.0)
    ... except Exception as err:
    ...     print(type(err).__name__)
    ConfigError
    """
    if not twin.states_:
        raise ConfigError("forecasting needs at least one fitted session.")
    last = twin.states_[-1]
    if at < last.at:
        raise ConfigError(f"forecast day {at} is before the last session (day {last.at}).")
    z = norm.ppf(0.5 + level / 2)
    post = last.posterior
    names = list(names) if names is not None else [n for n in post.names if "[" not in n] or post.names
    times = [s.at for s in twin.states_]
    horizon = at - last.at
    rows = []
    for name in names:
        i = _index(twin, name)
        means = [s.posterior.mean[i] for s in twin.states_]
        variances = [s.posterior.cov[i, i] + twin.process_noise for s in twin.states_]
        slope, slope_var = _trend(times, means, variances) if len(times) >= 3 else (0.0, 0.0)
        mean = post.mean[i] + slope * horizon
        sd = np.sqrt(post.cov[i, i] + twin.process_noise * horizon + slope_var * horizon ** 2)
        tr = post.transforms[i]
        lo, hi = sorted(float(from_unconstrained(mean + k * z * sd, tr)) for k in (-1, 1))
        rows.append({"kind": "parameter", "name": name, "at": at,
                     "value": float(from_unconstrained(mean, tr)), "low": lo, "high": hi})
    sd_meas = {**FEATURE_SD, **(feature_sd or {})}
    for feat, sd_f in sd_meas.items():
        vals = [(s.at, s.features[feat]) for s in twin.states_ if feat in s.features]
        if not vals:
            continue
        t, y = np.array(vals).T
        slope, slope_var = _trend(t, y, np.full(len(t), sd_f ** 2)) if len(t) >= 2 else (0.0, 0.0)
        level_now = y[-1] if len(t) < 2 else float(np.polyval(np.polyfit(t, y, 1), t[-1]))
        mean = level_now + slope * (at - t[-1])
        sd = np.sqrt(sd_f ** 2 + slope_var * (at - t[-1]) ** 2)
        rows.append({"kind": "feature", "name": feat, "at": at, "value": float(mean),
                     "low": float(mean - z * sd), "high": float(mean + z * sd)})
    return pd.DataFrame(rows)
