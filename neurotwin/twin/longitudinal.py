"""Trajectories, change detection and forecasts over a twin's states.

**Change detection.** Every later session is compared with the baseline
(the first session), on the twin's parameters and on the recording's
features, each against what would be expected with no change:

* a twin parameter's difference ``Δ`` (unconstrained scale: Hz for the
  alpha frequency, log-ratios for positive parameters) between the two
  sessions' *own* estimates (an update's posterior also holds the earlier
  sessions, so the session's evidence is taken apart from it:
  :func:`~neurotwin.twin.inference.own_evidence`) has variance
  ``v_0 + v_t + 2τ²``: both estimates' (whose spread is measured from the
  recording's blocks, :func:`~neurotwin.twin.inference.sandwich`) plus
  twice the between-session variance ``τ²``
  (:mod:`neurotwin.twin.variability`);
* a feature value (per channel and for the mean spectrum: IAF, aperiodic
  exponent and offset, relative band power, spectral edge, theta/beta on
  the log scale) has variance ``se_0² + se_t² + 2τ²`` with the SEs
  measured from each recording (:mod:`neurotwin.features.uncertainty`),
  tested with a t distribution of Welch-Satterthwaite degrees of freedom
  (values whose SE was not measured, e.g. BOLD's mean FC, are not tested).

Each test gives a two-sided p-value. A session's tests are grouped in
families, one per measure (a twin parameter; a feature of the mean
spectrum; a feature in one band at every channel), and corrected in two levels
(Benjamini & Bogomolov 2014): families are selected by Benjamini-Hochberg
on their Simes p-values, then the members of each selected family by BH at
the level scaled by the share of families selected. A change is flagged
when its q-value is at most ``fdr`` (5 %). When nothing changed, the
chance of *any* alert at a session stays at about ``fdr`` (the Simes and
BH procedures control the family-wise error under the global null, also
under the positive dependence of neighbouring channels; Benjamini &
Yekutieli 2001), and a change in one measure is not diluted by the
hundreds of channel-level tests of the others.
For parameters the table also gives the posterior probability that
the change exceeds the clinically meaningful size
(``Twin.thresholds``), ``p_meaningful``.

**Forecast.** With three sessions or more, a weighted least-squares
linear trend through the sessions' own estimates; before that, the last
state's posterior (the level every session so far points to). The 90 %
interval is for what a session at that day will *measure*: the level's
uncertainty (the trend's, at that day), one session's measurement spread
(the mean of the sessions' so far: the next one's SE is not known yet)
and the between-session SD (and, without a trend, the twin's random-walk
drift over the horizon).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from .._docs import fill_doc
from .._logging import logger
from ..errors import ConfigError
from .inference import PLAUSIBLE_Z, from_unconstrained, plausible_range
from .variability import (
    LOG_FEATURES,
    MIN_OWN,
    Variability,
    add_sums,
    estimate_variability,
    from_sums,
    variability_sums,
)

__all__ = [
    "CHANGE_COLUMNS",
    "FEATURE_INFO",
    "TESTED_FEATURES",
    "changes",
    "feature_changes",
    "forecast",
    "measure",
    "population_sums",
    "population_variability",
    "session_values",
    "trajectory",
    "variability_of",
]

#: features compared across sessions (per channel and for the mean spectrum)
TESTED_FEATURES = (
    "iaf",
    "aperiodic_exponent",
    "aperiodic_offset",
    "band_power_rel",
    "spectral_edge",
    "theta_beta",
    "fc_mean",
)
#: each tested feature's human name, unit and the range its value can take in an adult's resting EEG
#: (a forecast outside it is flagged): the IAF within its search band (the iaf feature's default),
#: an aperiodic exponent of 0-4 (Donoghue et al. 2020 report 0.5-2.5 for scalp EEG), ratios >= 0
FEATURE_INFO = {
    "iaf": ("individual alpha frequency", "Hz", (7.0, 14.0)),
    "aperiodic_exponent": ("aperiodic exponent", "1", (0.0, 4.0)),
    "aperiodic_offset": ("aperiodic offset", "log10 data", (-np.inf, np.inf)),
    "band_power_rel": ("relative band power", "1", (0.0, 1.0)),
    "spectral_edge": ("spectral edge frequency", "Hz", (0.0, np.inf)),
    "theta_beta": ("theta/beta power ratio", "1", (0.0, np.inf)),
    "fc_mean": ("mean connectivity", "1", (-1.0, 1.0)),
}
#: columns of :func:`changes`
CHANGE_COLUMNS = [
    "session",
    "at",
    "kind",
    "name",
    "label",
    "unit",
    "location",
    "band",
    "baseline",
    "value",
    "difference",
    "se",
    "between_sd",
    "sd_source",
    "dof",
    "p_value",
    "family_q",
    "q_value",
    "threshold",
    "meaningful",
    "p_meaningful",
    "flagged",
    "n_tests",
    "n_families",
]
#: a session identifies a parameter when its own sd is below this share of the template prior's sd
IDENTIFIED = 0.5
#: degrees of freedom of a built-in default τ: it weighs like this many of the patient's session pairs
DEFAULT_DOF = 4.0


def session_values(features) -> list[list]:
    """The feature values change detection compares: ``[feature, location, band, value, se]`` rows.

    A channel the recording's preprocessing interpolated (the FeatureSet's
    ``provenance["interpolated"]``, which :func:`~neurotwin.features.read_featureset`
    takes from the pipeline's step log) holds its neighbours' spline, not a
    measurement of its electrode: its values keep no SE, so they are not
    tested (a session's changes are tested only at electrodes measured in
    both sessions).

    Examples
    --------
    >>> from neurotwin.features import FeatureSet
    >>> from neurotwin.twin.longitudinal import session_values
    >>> rows = [{"feature": "iaf", "location": ch, "value": 10.0, "se": 0.1} for ch in ("O1", "O2")]
    >>> fs = FeatureSet.from_rows(rows, provenance={"interpolated": ["O2"]})
    >>> session_values(fs)  # (an SE that was not measured, or of an interpolated channel, is None)
    [['iaf', 'O1', '', 10.0, 0.1], ['iaf', 'O2', '', 10.0, None]]
    """
    t = features.table
    t = t[t["feature"].isin(TESTED_FEATURES) & (t["status"] == "ok")]
    interpolated = set((features.provenance or {}).get("interpolated") or [])
    return [
        [
            str(r.feature),
            str(r.location),
            str(r.band),
            float(r.value),
            float(r.se) if np.isfinite(r.se) and r.location not in interpolated else None,
        ]
        for r in t.itertuples()
    ]


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


def measure(key: tuple) -> str:
    """The between-session variability's name of a feature value ``(feature, location, band)``.

    Each band has its own (``"band_power_rel:alpha"``), and mean-spectrum
    values (``global``) theirs (``"iaf:global"``): they are far more
    precise than one channel's, and a single SD for both would fit the
    channels' and miss the summary's.

    Examples
    --------
    >>> from neurotwin.twin.longitudinal import measure
    >>> measure(("iaf", "global", "")), measure(("band_power_rel", "O1", "alpha"))
    ('iaf:global', 'band_power_rel:alpha')
    """
    name = f"{key[0]}:{key[2]}" if key[2] else key[0]
    return f"{name}:global" if key[1] == "global" else name


def _own(state, name: str) -> tuple[float, float] | None:
    """A session's own estimate ``(mean, sd)`` of a parameter (unconstrained; None if it has none).

    States fitted as updates keep the session's own evidence apart from the
    earlier sessions' (:func:`~neurotwin.twin.inference.own_evidence`);
    older states fall back to their posterior. A parameter whose own sd is
    above :data:`IDENTIFIED` of its template prior's is not identified by
    the session (as for the twin's identified regions) and is not tested.
    """
    own = state.features.get("own")
    if own is not None:
        if name not in own:
            return None
        mean, sd, *prior_sd = own[name]
        if prior_sd and sd > IDENTIFIED * prior_sd[0]:
            return None  # the session barely moves it from the template prior: not identified
        return float(mean), float(sd)
    i = state.posterior.names.index(name)
    return float(state.posterior.mean[i]), float(state.posterior.sd[i])


def _values(rows) -> dict[tuple, tuple[float, float]]:
    """``(feature, location, band) -> (value, se)`` of :func:`session_values` rows (log scale for ratios)."""
    out = {}
    for feat, loc, band, value, se in rows:
        se = np.nan if se is None else se
        if feat in LOG_FEATURES:
            if not value > 0:
                continue
            value, se = np.log(value), se / value
        out[(feat, loc, band)] = (float(value), float(se))
    return out


def _feature_values(state) -> dict[tuple, tuple[float, float]]:
    """A state's feature values (and a BOLD twin's summary FC, which has no SE)."""
    out = _values(state.features.get("values", []))
    if "fc_mean" in state.features:
        out.setdefault(("fc_mean", "global", ""), (float(state.features["fc_mean"]), float("nan")))
    return out


def variability_of(twin, before: int | None = None) -> Variability:
    """The between-session SDs a twin's change detection uses.

    The population's (the twin's ``variability``, else the study's estimate
    its store gave it, ``study_variability_``, else the built-in defaults),
    pooled with the patient's own once it has
    :data:`~neurotwin.twin.variability.MIN_OWN` sessions: ``τ²`` weighted by
    degrees of freedom (a default counts as :data:`DEFAULT_DOF` pairs).
    ``before``: use only the states before this index (a session is never
    tested against a variability that its own change inflated).
    """
    pop = Variability.from_dict(twin.variability or twin.study_variability_)
    states = twin.states_[:before] if before is not None else twin.states_
    if len(states) < MIN_OWN:
        return pop
    own = estimate_variability(_series(twin.thresholds, states, {}), source="own history")
    out = Variability(dict(pop.sd), dict(pop.dof), dict(pop.source), dict(pop.tail))
    for name, tau in own.sd.items():
        tau_p, dof_p, src_p = pop.get(name)
        dof_p = DEFAULT_DOF if not np.isfinite(dof_p) else dof_p
        dof_o = own.dof[name]
        out.sd[name] = float(np.sqrt((dof_p * tau_p**2 + dof_o * tau**2) / (dof_p + dof_o)))
        out.dof[name] = dof_p + dof_o
        out.source[name] = f"{own.source[name]} pooled with {src_p}"
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values)."""
    p = np.asarray(p, float)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.clip(q, 0, 1)
    return out


def _satterthwaite(variances, dofs) -> float:
    v = np.asarray(variances, float)
    d = np.asarray(dofs, float)
    keep = v > 0
    if not keep.any():
        return np.inf
    num = v[keep].sum() ** 2
    den = np.sum(np.where(np.isfinite(d[keep]), v[keep] ** 2 / d[keep], 0.0))
    return float(num / den) if den > 0 else np.inf


def _feature_rows(
    base_feats: dict, feats: dict, var: Variability, k_blocks: float, session, at
) -> list[dict]:
    """The reliable-change tests of one session's feature values against the baseline's."""
    rows = []
    for key, (value, se) in feats.items():
        if key not in base_feats:
            continue
        v0, se0 = base_feats[key]
        if not (np.isfinite(se0) and np.isfinite(se)):
            continue  # a value whose precision was not measured is not tested
        tau, dof_tau, src = var.get(measure(key))
        meas = se0**2 + se**2
        sd = np.sqrt(meas + 2 * tau**2)
        if not sd > 0:
            continue
        dof = _satterthwaite([se0**2, se**2, 2 * tau**2], [k_blocks, k_blocks, dof_tau])
        diff = value - v0
        shown = (np.exp(v0), np.exp(value)) if key[0] in LOG_FEATURES else (v0, value)
        label, unit, _ = FEATURE_INFO.get(key[0], (key[0], "", None))
        rows.append(
            {
                "session": session,
                "at": at,
                "kind": "feature",
                "name": key[0],
                "label": label,
                "unit": unit,
                "location": key[1],
                "band": key[2],
                "baseline": shown[0],
                "value": shown[1],
                "difference": float(diff),
                "se": float(np.sqrt(meas)),
                "between_sd": tau,
                "sd_source": src,
                "dof": dof,
                "p_value": var.p_value(measure(key), diff / sd, dof),
                "meaningful": np.nan,
                "p_meaningful": np.nan,
            }
        )
    return rows


def _corrected(rows: list[dict], fdr: float) -> list[dict]:
    """Flag a session's tests, two-level: families by BH on their Simes p, then members within families.

    A family is one measure: a twin parameter, a feature of the mean
    spectrum, or a feature in one band at every channel. Families are selected by Benjamini-Hochberg on their
    Simes combination ``min_k n p_(k) / k``; within each of the ``R``
    selected families (of ``F``) the members are flagged by BH at level
    ``fdr · R / F`` (Benjamini & Bogomolov 2014). ``q_value`` is the
    member's BH q within its family times ``F / R`` for a selected family
    (1 otherwise), so ``flagged == (q_value <= fdr)``.
    """
    if not rows:
        return rows
    fams: dict[tuple, list[int]] = {}
    for j, r in enumerate(rows):
        scope = "summary" if r["location"] in ("", "global") else "channels"
        fams.setdefault((r["kind"], r["name"], r["band"], scope), []).append(j)
    keys = list(fams)
    simes = []
    for k in keys:
        p = np.sort([rows[j]["p_value"] for j in fams[k]])
        simes.append(float(np.min(p * len(p) / np.arange(1, len(p) + 1))))
    fam_q = _bh(np.array(simes))
    selected = [k for k, q in zip(keys, fam_q) if q <= fdr]
    scale = len(keys) / max(len(selected), 1)
    for k, q_fam in zip(keys, fam_q):
        members = fams[k]
        inner = _bh(np.array([rows[j]["p_value"] for j in members]))
        for j, qi in zip(members, inner):
            q = min(1.0, qi * scale) if q_fam <= fdr else 1.0
            rows[j].update(
                q_value=float(q),
                family_q=float(q_fam),
                threshold=fdr,
                flagged=bool(q <= fdr),
                n_tests=len(rows),
                n_families=len(keys),
            )
    return rows


def changes(twin, *, fdr: float = 0.05) -> pd.DataFrame:
    """Every later session against the baseline: parameters and features, Benjamini-Hochberg controlled.

    Parameters
    ----------
    twin : Twin
    fdr : float
        False discovery rate of a session's alerts (Benjamini-Hochberg).

    Returns
    -------
    table : pandas.DataFrame
        :data:`CHANGE_COLUMNS`: per test its difference, the SE of the
        difference from the measurements (``se``), the between-session SD
        used and where it came from, the p- and q-value, the threshold
        (``fdr``), for parameters the meaningful size and the posterior
        probability of exceeding it, whether it is flagged and how many
        tests the session's correction covered.

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> from neurotwin.twin.longitudinal import changes
    >>> changes(Twin("01")).empty
    True
    """
    if not 0 < fdr < 1:
        raise ConfigError(f"fdr must be in (0, 1), got {fdr!r}.")
    if len(twin.states_) < 2:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    base = twin.states_[0]
    names, transforms = base.posterior.names, base.posterior.transforms
    base_feats = _feature_values(base)
    k_blocks = float((base.features.get("n_blocks") or 10) - 1)
    out = []
    for s in twin.states_[1:]:
        var = variability_of(twin, before=s.index)
        rows = []
        for name, delta in twin.thresholds.items():
            if name not in names:
                continue
            i = names.index(name)
            now, then = _own(s, name), _own(base, name)
            if now is None or then is None:
                continue  # a session does not identify it by itself
            m = now[0] - then[0]
            tau, dof_tau, src = var.get(name)
            meas = now[1] ** 2 + then[1] ** 2
            sd = np.sqrt(meas + 2 * tau**2)
            p_big = max(norm.cdf((-delta - m) / sd), norm.sf((delta - m) / sd))
            dof = _satterthwaite([meas, 2 * tau**2], [np.inf, dof_tau])
            label, unit = base.posterior.label(name)
            rows.append(
                {
                    "session": s.session,
                    "at": s.at,
                    "kind": "parameter",
                    "name": name,
                    "label": label,
                    "unit": unit,
                    "location": "",
                    "band": "",
                    "baseline": float(from_unconstrained(then[0], transforms[i])),
                    "value": float(from_unconstrained(now[0], transforms[i])),
                    "difference": float(m),
                    "se": float(np.sqrt(meas)),
                    "between_sd": tau,
                    "sd_source": src,
                    "dof": dof,
                    "p_value": var.p_value(name, m / sd, dof),
                    "meaningful": delta,
                    "p_meaningful": float(p_big),
                }
            )
        rows += _feature_rows(base_feats, _feature_values(s), var, k_blocks, s.session, s.at)
        out.extend(_corrected(rows, fdr))
    return pd.DataFrame(out, columns=CHANGE_COLUMNS)


def feature_changes(
    featuresets, *, at=None, variability: dict | None = None, fdr: float = 0.05
) -> pd.DataFrame:
    """Change detection on features alone (no twin: e.g. a recording the twin cannot place on a head).

    Parameters
    ----------
    featuresets : list of FeatureSet
        The sessions in time order (the first is the baseline); their
        ``se`` column must be measured (``compute_features`` does).
    at : list of float | None
        Days of the sessions (default 0, 1, 2, ...).
    variability : dict | None
        Between-session SDs (``Variability.to_dict()``); None: the defaults.
    fdr : float
        False discovery rate of a session's alerts (Benjamini-Hochberg).

    Returns
    -------
    table : pandas.DataFrame
        As :func:`changes` (feature rows only).

    Examples
    --------
    >>> from neurotwin.features import FeatureSet
    >>> from neurotwin.twin.longitudinal import feature_changes
    >>> a = FeatureSet.from_rows([{"feature": "iaf", "value": 10.0, "se": 0.1}], session="01")
    >>> b = FeatureSet.from_rows([{"feature": "iaf", "value": 8.5, "se": 0.1}], session="02")
    >>> feature_changes([a, b])["flagged"].tolist()
    [True]
    """
    if not 0 < fdr < 1:
        raise ConfigError(f"fdr must be in (0, 1), got {fdr!r}.")
    at = list(range(len(featuresets))) if at is None else list(at)
    if len(at) != len(featuresets):
        raise ConfigError(f"{len(featuresets)} feature sets but {len(at)} days.")
    var = Variability.from_dict(variability)

    vals = [_values(session_values(fs)) for fs in featuresets]
    k = [(fs.provenance or {}).get("se", {}).get("n_blocks") or 10 for fs in featuresets]
    out = []
    for j in range(1, len(featuresets)):
        sessions = sorted(set(featuresets[j].table["session"])) or [""]
        rows = _feature_rows(
            vals[0], vals[j], var, float(min(k[0], k[j]) - 1), sessions[0] or str(j), float(at[j])
        )
        out.extend(_corrected(rows, fdr))
    return pd.DataFrame(out, columns=CHANGE_COLUMNS)


def _series(thresholds, states, series: dict) -> dict:
    """Add one twin's sessions to ``{measure: [(values, ses), ...]}`` (parameters, then features)."""
    post0 = states[0].posterior
    for name in thresholds:
        if name in post0.names:
            own = [_own(s, name) or (np.nan, np.nan) for s in states]
            series.setdefault(name, []).append((np.array([o[0] for o in own]), np.array([o[1] for o in own])))
    per = [_feature_values(s) for s in states]
    for key in per[0]:
        vals = [p.get(key, (np.nan, np.nan)) for p in per]
        series.setdefault(measure(key), []).append(
            (np.array([v[0] for v in vals]), np.array([v[1] for v in vals]))
        )
    return series


def _twin_sums(twin) -> dict | None:
    if len(twin.states_) < 2:
        return None
    return variability_sums(_series(twin.thresholds, twin.states_, {}))


def population_sums(twins) -> dict:
    """Each twin's contribution to the study's between-session SDs: ``{subject: variability_sums}``.

    Keyed by the twin's subject label (a store's pseudonymous id for
    :meth:`TwinStore.twins`), which must be unique; twins with fewer than
    two sessions give none.
    """
    out = {}
    for twin in twins:
        if twin.subject in out:
            raise ConfigError(f"two twins are labelled {twin.subject!r}; a study's twins need unique labels.")
        sums = _twin_sums(twin)
        if sums is not None:
            out[twin.subject] = sums
    return out


def population_variability(twins) -> Variability:
    """A study's between-session SDs from its twins' sessions (parameters and features).

    Every twin with at least two sessions contributes its successive
    differences (:func:`~neurotwin.twin.variability.estimate_variability`);
    the group run stores them as the study's population prior.

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> from neurotwin.twin.longitudinal import population_variability
    >>> population_variability([Twin("01")]).sd
    {}
    """
    parts = [p for p in (_twin_sums(t) for t in twins) if p is not None]
    return from_sums(add_sums(parts))


def _trend(times, means, variances):
    """WLS line through (t, mean) with weights 1/var: coefficients and their covariance."""
    t, y, w = np.asarray(times, float), np.asarray(means, float), 1 / np.asarray(variances, float)
    x = np.column_stack([np.ones_like(t), t])
    cov = np.linalg.inv(x.T @ (x * w[:, None]))
    beta = cov @ (x.T @ (w * y))
    resid = y - x @ beta
    dof = max(len(t) - 2, 1)
    scale = max(1.0, float(np.sum(w * resid**2) / dof))  # over-dispersion widens the trend
    return beta, cov * scale


def _has_trend(times) -> bool:
    """A line can be fitted: 3 sessions or more, on at least 2 different days (same-day ties allowed)."""
    return len(times) >= 3 and len(np.unique(np.asarray(times, float))) >= 2


def _predict(times, values, variances, at: float) -> tuple[float, float]:
    """The expected level at ``at`` and its variance: a linear trend from 3 states on, else the last."""
    if _has_trend(times):
        beta, cov = _trend(times, values, variances)
        x = np.array([1.0, at])
        return float(x @ beta), float(x @ cov @ x)
    return float(values[-1]), float(variances[-1])


@fill_doc
def forecast(twin, at: float, *, level: float = 0.9, names=None) -> pd.DataFrame:
    """Predicted parameters (and mean-spectrum features) at day ``at`` with predictive intervals.

    The interval is for what a session at ``at`` would measure: the
    trend's level and slope uncertainty, the drift over the horizon, the
    between-session SD and a session's own measurement spread (the mean of
    the sessions' so far).

    A trend needs 3 sessions on at least 2 different days; before that the
    forecast is the current level (``basis`` says which). A forecast that
    leaves the plausible range (a parameter's template prior's central
    99 %, a feature's :data:`FEATURE_INFO` range) while the last session is
    inside it is kept, with a ``note`` and a logged warning: a trend
    extrapolated that far is not a prediction to act on. (A level that is
    already outside is the state's own flag, :meth:`TwinState.summary`.)

    Parameters
    ----------
    twin : Twin
    %(forecast_params)s

    Returns
    -------
    %(forecast_returns)s

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
    var = variability_of(twin)
    z = norm.ppf(0.5 + level / 2)
    post = last.posterior
    names = list(names) if names is not None else [n for n in post.names if "[" not in n] or post.names
    times = np.array([s.at for s in twin.states_])
    horizon = at - last.at
    basis = (
        f"trend over {len(times)} sessions"
        if _has_trend(times)
        else "current level (a trend needs 3 sessions on 2 or more days)"
    )
    rows = []
    for name in names:
        i = _index(twin, name)
        tau = var.get(name)[0]
        own = [_own(s, name) for s in twin.states_]
        if _has_trend(times) and all(o is not None for o in own):
            # a trend through the sessions' own (independent) estimates
            means = np.array([o[0] for o in own])
            variances = np.array([o[1] ** 2 + tau**2 for o in own])
            mean, level_var = _predict(times, means, variances, at)
        else:  # the current level: the last state's posterior, which holds every session so far
            mean, level_var = float(post.mean[i]), float(post.cov[i, i])
        # what the next session measures: the level, a session's own measurement spread (its
        # expectation: the mean over the sessions so far; the last one's alone is a poor guess of the
        # next's when a recording's precision varies) and the between-session variability
        spreads = [o[1] ** 2 for o in own if o is not None]
        last_own = float(np.mean(spreads)) if spreads else float(post.cov[i, i])
        # a trend already allows for systematic change; without one, the drift does
        drift = 0.0 if _has_trend(times) else twin.process_noise * horizon
        sd = np.sqrt(level_var + last_own + tau**2 + drift)
        tr = post.transforms[i]
        lo, hi = sorted(float(from_unconstrained(mean + k * z * sd, tr)) for k in (-1, 1))
        label, unit = post.label(name)
        template = (last.features.get("own") or {}).get(name, [])[2:4]  # the template prior's sd, mean
        note = ""
        now = float(post.mean[i])  # a level already outside is the state's own flag (TwinState.summary)
        t_sd, t_mean = template if len(template) == 2 else (np.inf, 0.0)  # (none: never implausible)
        if abs(mean - t_mean) > PLAUSIBLE_Z * t_sd >= abs(now - t_mean):
            lo_ok, hi_ok = plausible_range(t_mean, t_sd, tr)
            note = f"outside the plausible range (the template prior's 99 %: {lo_ok:.3g} to {hi_ok:.3g})"
        rows.append(
            {
                "kind": "parameter",
                "name": name,
                "label": label,
                "unit": unit,
                "at": at,
                "value": float(from_unconstrained(mean, tr)),
                "low": lo,
                "high": hi,
                "basis": basis,
                "note": note,
            }
        )
    per = [_feature_values(s) for s in twin.states_]
    for feat in TESTED_FEATURES:
        key = (feat, "global", "")
        vals = [(s.at, *p[key]) for s, p in zip(twin.states_, per) if key in p]
        if not vals:
            continue
        t, y, se = (np.array(v) for v in zip(*vals))
        tau = var.get(measure(key))[0]
        v = np.where(np.isfinite(se), se**2, 0.0) + tau**2
        v = np.where(v > 0, v, 1e-12)
        mid, level_var = _predict(t, y, v, at)
        measured = se[np.isfinite(se)]
        sd = np.sqrt(level_var + (np.mean(measured**2) if len(measured) else 0.0) + tau**2)
        lo, hi = mid - z * sd, mid + z * sd
        if feat in LOG_FEATURES:
            lo, hi, mid = np.exp(lo), np.exp(hi), np.exp(mid)
        label, unit, (low_ok, high_ok) = FEATURE_INFO[feat]
        last_value = np.exp(y[-1]) if feat in LOG_FEATURES else y[-1]
        leaves = not low_ok <= mid <= high_ok and low_ok <= last_value <= high_ok
        note = f"outside the plausible range ({low_ok:g} to {high_ok:g})" if leaves else ""
        rows.append(
            {
                "kind": "feature",
                "name": feat,
                "label": label,
                "unit": unit,
                "at": at,
                "value": float(mid),
                "low": float(lo),
                "high": float(hi),
                "basis": f"trend over {len(t)} sessions" if _has_trend(t) else basis,
                "note": note,
            }
        )
    for r in rows:
        if r["note"]:
            logger.warning(
                "twin %s: the forecast of %s at day %g (%.3g) is %s; do not act on it",
                twin.subject,
                r["label"],
                at,
                r["value"],
                r["note"],
            )
    return pd.DataFrame(
        rows, columns=["kind", "name", "label", "unit", "at", "value", "low", "high", "basis", "note"]
    )
