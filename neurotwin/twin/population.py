"""A population prior on a person's functional connectivity: what other people say before their data do.

One session's BOLD FC is a noisy measurement of the person's own, stable
FC: it also holds the session's state (vigilance, motion) and the sampling
noise of a few minutes of data. Other people's FC is a second, independent
estimate of it (people's networks are alike). The best prediction of the
person's next session combines both, weighing each by its reliability:
empirical-Bayes shrinkage of subject FC towards the group mean (Mejia et
al. 2018, *NeuroImage* 172, "Improved estimation of subject-level
functional connectivity using full and partial shrinkage"; Shou et al.
2014 for its reliability basis). On the Fisher-z scale, with ``τ²`` the
between-person variance of people's own FC, ``ω²`` a session's variance
around it beyond sampling noise, and ``1/(T_eff - 3)`` the sampling
variance, the weight of the person's session is

    λ = τ² / (τ² + ω² + 1 / (T_eff - 3)),

and the twin is fitted to ``λ R̂ + (1 - λ) R̄`` (a convex combination of
correlation matrices, so positive definite) with the effective sample size
of the combination's precision, ``1 / (λ (ω² + 1/(T_eff - 3))) + 3``. This
is a prior in data space: the conjugate form of the twin's Wishart
likelihood, which keeps the twin's parameter prior as it is. A prior on the
*parameters* (the mean of other people's fitted parameters) was tried first
and predicted worse than the template prior on all 4 held-out HCP subjects
it was tried on:
the ~9,000 parameters of a BOLD twin are not unique (the coupling trades
against the connection modifiers), so their mean across people describes
nobody's network.

``τ²`` and ``ω²`` are pooled over connections and estimated from the
population's sessions (:meth:`PopulationPrior.from_features`): ``ω²`` from
the differences between sessions of one person (people with two or more),
``τ²`` from the spread of people's mean FC minus what their sessions' own
noise explains; both are floored at 0 and ``τ²`` at 1e-6. It enters only a
twin's first fit; later sessions update the twin as before. Written here
because the neuroimaging libraries that estimate FC (nilearn,
mne-connectivity) shrink covariance estimates within a person (Ledoit-Wolf),
not one person's towards a population.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["PopulationPrior"]

#: people needed for a between-person variance (with one degree of freedom to spare)
MIN_PEOPLE = 3
#: floor of the between-person variance: people are never assumed identical
MIN_BETWEEN = 1e-6


def _z(fc: np.ndarray) -> np.ndarray:
    iu = np.triu_indices(len(fc), 1)
    return np.arctanh(np.clip(fc[iu], -0.999999, 0.999999))


@dataclass(frozen=True)
class PopulationPrior:
    """Mean FC of a population and its between-person and between-session variances.

    Attributes
    ----------
    regions : list of str
        The FC's regions (a twin's must be the same, in the same order).
    fc_mean : ndarray, shape (N, N)
        The mean over people of each person's mean FC (correlation).
    between : float
        ``τ²``: variance of people's own FC around the population's (Fisher z, pooled).
    within : float
        ``ω²``: variance of one session's FC around the person's own beyond sampling noise.
    n_people, n_sessions : int
        What it was estimated from.
    modality : str
        The part of a twin it informs (``"bold"``).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.bold import bold_featureset, bold_summary
    >>> from neurotwin.twin import PopulationPrior
    >>> rng = np.random.default_rng(0)
    >>> mix = rng.normal(size=(4, 4))
    >>> sessions = {}
    >>> for person in ["01", "02", "03"]:
    ...     own = mix + 0.3 * rng.normal(size=(4, 4))
    ...     sessions[person] = [
    ...         bold_featureset(bold_summary(rng.normal(size=(300, 4)) @ own, 2.0), list("ABCD"))
    ...         for _ in range(2)
    ...     ]
    >>> pop = PopulationPrior.from_features(sessions)
    >>> pop.n_people, pop.n_sessions, pop.fc_mean.shape
    (3, 6, (4, 4))
    >>> 0 < pop.weight(100.0) < 1  # the share of a 100-sample session's own FC in the twin's target
    True
    """

    regions: list
    fc_mean: np.ndarray
    between: float
    within: float
    n_people: int
    n_sessions: int
    modality: str = "bold"

    @classmethod
    def from_features(cls, sessions: Mapping[str, Sequence]) -> PopulationPrior:
        """Estimate the prior from people's BOLD FeatureSets (the ``bold_dynamics`` feature).

        Parameters
        ----------
        sessions : mapping of str to list of FeatureSet
            Each person's sessions (one or more; the between-session
            variance needs some people with two or more).

        Returns
        -------
        PopulationPrior
        """
        from .objectives.bold_fc import session_fc  # (the objective imports this module)

        people = {str(k): list(v) for k, v in sessions.items() if len(v)}
        if len(people) < MIN_PEOPLE:
            raise ConfigError(f"a population prior needs at least {MIN_PEOPLE} people, got {len(people)}.")
        regions, zs, noise, means = None, {}, {}, []
        for person, fss in people.items():
            zs[person], noise[person] = [], []
            fcs = []
            for fs in fss:
                labels, fc, t_eff = session_fc(fs)
                if regions is None:
                    regions = labels
                elif labels != regions:
                    raise DataError(f"person {person!r} has FC of other regions than the first person's.")
                if t_eff <= 4:
                    raise DataError(
                        f"person {person!r}: a session of {t_eff:.1f} effective samples is too short."
                    )
                fcs.append(fc)
                zs[person].append(_z(fc))
                noise[person].append(1.0 / (t_eff - 3))
            means.append(np.mean(fcs, axis=0))
        repeated = [p for p in people if len(zs[p]) >= 2]
        within = 0.0
        if repeated:  # sessions' spread around their person's mean, minus their sampling noise
            spread = np.mean([np.mean(np.var(zs[p], axis=0, ddof=1)) for p in repeated])
            within = max(float(spread - np.mean([np.mean(noise[p]) for p in repeated])), 0.0)
        person_z = np.array([np.mean(zs[p], axis=0) for p in people])
        explained = np.mean([(within + np.mean(noise[p])) / len(zs[p]) for p in people])
        between = max(float(np.mean(np.var(person_z, axis=0, ddof=1)) - explained), MIN_BETWEEN)
        fc_mean = np.mean(means, axis=0)
        np.fill_diagonal(fc_mean, 1.0)
        return cls(list(regions), fc_mean, between, within, len(people), sum(len(v) for v in zs.values()))

    def weight(self, t_eff: float) -> float:
        """``λ``: the share of a session of ``t_eff`` effective samples in the twin's target FC."""
        noise = self.within + 1.0 / max(float(t_eff) - 3, 1.0)
        return float(self.between / (self.between + noise))

    def shrink(self, fc: np.ndarray, t_eff: float, regions) -> tuple[np.ndarray, float, float]:
        """The target FC, its effective sample size and ``λ`` for a session's ``fc``."""
        if list(regions) != list(self.regions):
            raise DataError(
                "the population prior's regions are not this session's "
                f"({len(self.regions)} from {self.regions[:2]}, against {len(regions)} from "
                f"{list(regions)[:2]})."
            )
        lam = self.weight(t_eff)
        target = lam * np.asarray(fc, float) + (1 - lam) * self.fc_mean
        precision = 1.0 / (lam * (self.within + 1.0 / max(float(t_eff) - 3, 1.0)))
        return target, precision + 3.0, lam

    @classmethod
    def setting(cls, population, parts) -> dict | None:
        """``Twin(population=...)`` as the twin keeps it (a dict), checked against the twin's parts."""
        if population is None:
            return None
        if isinstance(population, dict):
            population = cls.from_dict(population)
        if not isinstance(population, cls):
            raise ConfigError(
                f"population must be a PopulationPrior or its dict, not {type(population).__name__}."
            )
        if population.modality not in parts:
            raise ConfigError(
                f"the population prior is of {population.modality} FC; a twin of {'+'.join(parts)} has no "
                f"{population.modality} part to take it."
            )
        return population.to_dict()

    def to_dict(self) -> dict:
        """JSON-ready form (what ``Twin(population=...)`` and the store keep)."""
        return {
            "modality": self.modality,
            "regions": list(self.regions),
            "fc_mean": np.round(self.fc_mean, 6).tolist(),
            "between": float(self.between),
            "within": float(self.within),
            "n_people": int(self.n_people),
            "n_sessions": int(self.n_sessions),
        }

    @classmethod
    def from_dict(cls, d: dict | PopulationPrior) -> PopulationPrior:
        """The inverse of :meth:`to_dict` (a clear error on a malformed one; a PopulationPrior: itself)."""
        if isinstance(d, cls):
            return d
        try:
            out = cls(
                list(d["regions"]),
                np.asarray(d["fc_mean"], float),
                float(d["between"]),
                float(d["within"]),
                int(d["n_people"]),
                int(d["n_sessions"]),
                str(d.get("modality", "bold")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(
                f"not a population prior ({err!r}); make one with PopulationPrior.from_features."
            ) from err
        n = len(out.regions)
        if out.fc_mean.shape != (n, n) or not np.isfinite(out.fc_mean).all():
            raise ConfigError("a population prior needs one finite FC value per pair of its regions.")
        if not (out.between > 0 and out.within >= 0):
            raise ConfigError(
                "a population prior needs a positive between-person and a non-negative "
                "between-session variance."
            )
        return out
