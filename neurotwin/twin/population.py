"""A population prior: what other people's twins say about a new person before their data do.

A twin's first fit starts from the objective's template prior: broad,
physiological ranges that know nothing of the study. With several people
fitted, the study knows more: where their parameters lie and how much they
differ between people. :class:`PopulationPrior` estimates that from their
twins (empirical Bayes, a two-level hierarchical model with the population's
moments plugged in) and a new twin fitted with it (``Twin(population=...)``)
is the population's model moved towards the person's own data as far as
the data support it. With little or noisy data the twin predicts about what
the group does; with much data, what the person's own recording says.

The moments come from each twin's first state (fitted with the template
prior) by the law of total variance: with calibrated posteriors ``N(m_k,
v_k)`` of people ``k``, the population's spread of the true parameter is
``Var(m_k) + E(v_k)``; its mean is the mean of the ``m_k``. Connection
modifiers of a BOLD twin (MAP only, no posterior) take their mean per
connection over the people who have it, and one between-person sd pooled
over connections (which also holds their estimation noise, so the
shrinkage it gives is on the weak side). Written here because no
neuroimaging library fits hierarchical priors over brain-network twins
(The Virtual Brain and VBI fit one person at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError
from .inference import Prior

__all__ = ["PopulationPrior"]

#: people needed for a between-person spread (one degree of freedom more than a variance needs)
MIN_PEOPLE = 3


@dataclass(frozen=True)
class PopulationPrior:
    """Mean and between-person sd of every twin parameter over a group of people.

    Attributes
    ----------
    modality : str
        The twins' modality (and ``likelihood``): a prior fits only twins of the same.
    likelihood : str | None
    names : list of str
        Parameter names, in the objectives' order.
    mean, sd : ndarray
        Population mean and between-person sd on the unconstrained scale.
    n_people : int
        How many twins it was estimated from.
    regions : list of str | None
        Region labels of the connection modifiers (BOLD), else None.
    extra_mean : ndarray | None
        ``(N, N)`` mean log-modifier of each connection (0 where nobody has it).
    extra_sd : float | None
        Between-person sd of the connection modifiers.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.bold import bold_featureset
    >>> from neurotwin.io import Connectome
    >>> from neurotwin.twin import PopulationPrior, Twin
    >>> w = np.array([[0, 1.0, 0.5], [1.0, 0, 0.2], [0.5, 0.2, 0]])
    >>> twins = []
    >>> for k, r in enumerate([0.2, 0.3, 0.4]):
    ...     fc = np.array([[1, r, 0.2], [r, 1, 0.1], [0.2, 0.1, 1]])
    ...     fs = bold_featureset({"fc": fc, "t_eff": 200.0, "peak_freqs": [0.04, 0.05, 0.06]}, list("ABC"))
    ...     twin = Twin(f"0{k}", modality="bold", connectome=Connectome(w, labels=list("ABC")))
    ...     twins.append(twin.fit(fs))
    >>> pop = PopulationPrior.from_twins(twins)
    >>> pop.n_people, pop.extra_mean.shape
    (3, (3, 3))
    >>> new = Twin("04", modality="bold", connectome=Connectome(w, labels=list("ABC")), population=pop)
    >>> new.population["n_people"]
    3
    """

    modality: str
    likelihood: str | None
    names: list
    mean: np.ndarray
    sd: np.ndarray
    n_people: int
    regions: list | None = None
    extra_mean: np.ndarray | None = None
    extra_sd: float | None = None

    @classmethod
    def from_twins(cls, twins) -> PopulationPrior:
        """Estimate the prior from fitted twins' first states (fitted with the template prior).

        Parameters
        ----------
        twins : list of Twin
            At least 3 fitted twins of one modality and likelihood, with the
            same parameters (same channels or regions).

        Returns
        -------
        PopulationPrior
        """
        twins = list(twins)
        if len(twins) < MIN_PEOPLE:
            raise ConfigError(
                f"a population prior needs at least {MIN_PEOPLE} fitted twins, got {len(twins)}."
            )
        first = twins[0]
        kinds = {(t.modality, t.likelihood) for t in twins}
        if len(kinds) > 1:
            kinds = sorted(kinds, key=str)
            raise ConfigError(f"the twins have different modalities or likelihoods: {kinds}.")
        for t in twins:
            if not t.states_:
                raise ConfigError(f"twin {t.subject!r} has no fitted state.")
            if t.population is not None:
                raise ConfigError(
                    f"twin {t.subject!r} was fitted with a population prior; estimate the population "
                    "from twins fitted with the template prior (its information would count twice)."
                )
        posts = [t.states_[0].posterior for t in twins]
        names = list(posts[0].names)
        for t, p in zip(twins, posts):
            if list(p.names) != names:
                raise DataError(
                    f"twin {t.subject!r} has other parameters than twin {first.subject!r} "
                    "(other channels or regions); a population prior needs the same ones."
                )
        means = np.array([p.mean for p in posts])
        variances = np.array([np.clip(np.diag(p.cov), 0, None) for p in posts])
        sd = np.sqrt(means.var(axis=0, ddof=1) + variances.mean(axis=0))  # law of total variance
        regions, extra_mean, extra_sd = None, None, None
        extras = [p.extra.get("theta_extra") for p in posts]
        if all(e is not None and len(e) for e in extras):
            regions, extra_mean, extra_sd = _connection_moments(twins, extras)
        return cls(
            first.modality,
            first.likelihood,
            names,
            means.mean(axis=0),
            sd,
            len(twins),
            regions,
            extra_mean,
            extra_sd,
        )

    def prior(self, template: Prior) -> Prior:
        """The template prior with the population's mean and sd for every parameter it has."""
        if list(template.names) != list(self.names):
            raise DataError(
                "the population prior has other parameters than this session's "
                f"({len(self.names)} against {len(template.names)}: other channels or regions?)."
            )
        return Prior(
            list(template.names),
            list(template.transforms),
            np.asarray(self.mean, float).copy(),
            np.asarray(self.sd, float).copy(),
            labels=template.labels,
            units=template.units,
        )

    def extras(self, mask: np.ndarray, regions) -> np.ndarray:
        """Prior mean of the connection modifiers at ``mask`` (the objective's connections)."""
        if self.extra_mean is None:
            raise DataError(
                "this population prior has no connection modifiers (its twins were fitted without "
                "effective connectivity)."
            )
        if list(regions) != list(self.regions):
            raise DataError("the population prior's regions are not this twin's.")
        return np.asarray(self.extra_mean, float)[np.asarray(mask, bool)]

    def to_dict(self) -> dict:
        """JSON-ready form (what ``Twin(population=...)`` and the store keep)."""
        return {
            "modality": self.modality,
            "likelihood": self.likelihood,
            "names": list(self.names),
            "mean": [float(x) for x in self.mean],
            "sd": [float(x) for x in self.sd],
            "n_people": int(self.n_people),
            "regions": None if self.regions is None else list(self.regions),
            "extra_mean": None if self.extra_mean is None else np.round(self.extra_mean, 6).tolist(),
            "extra_sd": None if self.extra_sd is None else float(self.extra_sd),
        }

    @classmethod
    def from_dict(cls, d: dict) -> PopulationPrior:
        """The inverse of :meth:`to_dict` (a clear error on a malformed one)."""
        try:
            mean, sd = np.asarray(d["mean"], float), np.asarray(d["sd"], float)
            extra = d.get("extra_mean")
            out = cls(
                str(d["modality"]),
                d.get("likelihood"),
                list(d["names"]),
                mean,
                sd,
                int(d["n_people"]),
                d.get("regions"),
                None if extra is None else np.asarray(extra, float),
                None if d.get("extra_sd") is None else float(d["extra_sd"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(
                f"not a population prior ({err!r}); make one with PopulationPrior.from_twins."
            ) from err
        sizes_ok = len(mean) == len(out.names) == len(sd)
        if not (sizes_ok and np.isfinite(mean).all() and np.isfinite(sd).all() and (sd > 0).all()):
            raise ConfigError("a population prior needs one finite mean and one positive sd per parameter.")
        return out


def _connection_moments(twins, extras) -> tuple[list, np.ndarray, float]:
    """Per-connection mean log-modifier and the pooled between-person sd."""
    regions = None
    total = count = squares = None
    for t, e in zip(twins, extras):
        con = t._connectome()
        labels = list(con.labels or [])
        if regions is None:
            regions = labels
            n = len(labels)
            total, squares, count = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
        elif labels != regions:
            raise DataError(f"twin {t.subject!r} has other regions than twin {twins[0].subject!r}.")
        mask = np.asarray(con.weights) > 0
        if mask.sum() != len(e):
            raise DataError(f"twin {t.subject!r}: its connection modifiers do not match its connectome.")
        values = np.zeros(mask.shape)
        values[mask] = e
        total += values
        squares += values**2
        count += mask
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    many = count >= 2
    if not many.any():
        return regions, mean, None
    var = (squares[many] - count[many] * mean[many] ** 2) / (count[many] - 1)
    return regions, mean, float(np.sqrt(max(np.mean(var), 1e-12)))
