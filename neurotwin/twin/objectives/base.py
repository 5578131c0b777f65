"""The protocol every twin objective follows, and the registry that finds one by modality.

An objective is one modality's likelihood of a session's features given the
twin's parameters. It builds itself from a FeatureSet and a connectome
(:meth:`Objective.build`), declares its parameters once (its ``prior``:
names, transforms, means and sds on the unconstrained scale, and the
``bounds`` of its domain), gives the negative log-likelihood and its
gradient (``obj(theta) -> (nll, grad)``), **predicts the features it models
for any parameters** (:meth:`predict`, next to the same features as observed,
:meth:`observed`), scores a parameter set (:meth:`score`), reports its fit
diagnostics, and hands the fitted network to what-if experiments
(:meth:`network`). :class:`neurotwin.twin.Twin` holds only settings and
states and calls these; :func:`neurotwin.testing.check_objective` checks the
contract for every registered objective.

Optional hooks the fit uses when present: ``starts(prior, first)`` (where the
optimiser starts), ``reweight(theta)`` (a second pass after re-weighting),
``fisher(theta)`` (the expected information, for the posterior),
``tolerance`` (nats) and ``maxiter``; ``n_extra`` values after the prior's
are fitted by MAP only (prior sd ``edge_sd``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..._validation import did_you_mean
from ...errors import ConfigError, DataError

__all__ = [
    "LIKELIHOODS",
    "OBJECTIVES",
    "Objective",
    "describe",
    "feature_array",
    "get_objective",
    "optional_array",
    "register_objective",
]

#: modality -> objective class (the modality's default likelihood)
OBJECTIVES: dict[str, type] = {}
#: (modality, likelihood) -> objective class of another likelihood of a modality's features
LIKELIHOODS: dict[tuple[str, str], type] = {}


def register_objective(cls: type) -> type:
    """Class decorator: make an objective available under its ``modality`` (and ``likelihood``).

    An objective whose ``likelihood`` is not None is another likelihood of
    its modality's features, chosen by ``Twin(likelihood=...)``.

    Examples
    --------
    >>> from neurotwin.twin.objectives import LIKELIHOODS, OBJECTIVES
    >>> sorted(OBJECTIVES), sorted(LIKELIHOODS)
    (['bold', 'eeg', 'eeg+bold', 'eeg+meg', 'eeg+meg+bold', 'meg', 'meg+bold'], [('eeg', 'csd')])
    """
    if cls.likelihood is None:
        OBJECTIVES[cls.modality] = cls
    else:
        LIKELIHOODS[(cls.modality, cls.likelihood)] = cls
    return cls


def get_objective(modality: str, likelihood: str | None = None) -> type:
    """The objective class of a modality and likelihood (an error names the registered ones).

    Examples
    --------
    >>> from neurotwin.twin.objectives import get_objective
    >>> get_objective("eeg").__name__, get_objective("eeg", "csd").__name__
    ('SpectrumObjective', 'CsdObjective')
    """
    if modality not in OBJECTIVES:
        raise ConfigError(
            f"modality must be one of {sorted(OBJECTIVES)}, got {modality!r}."
            f"{did_you_mean(str(modality), sorted(OBJECTIVES))}"
        )
    if likelihood is None:
        return OBJECTIVES[modality]
    if (modality, likelihood) not in LIKELIHOODS:
        known = sorted(k for m, k in LIKELIHOODS if m == modality)
        raise ConfigError(
            f"likelihood must be None (the {modality} twin's default) or one of {known} for "
            f"modality {modality!r}, got {likelihood!r}.{did_you_mean(str(likelihood), known)}"
        )
    return LIKELIHOODS[(modality, likelihood)]


def describe(names, parameters: dict) -> tuple[list[str], list[str]]:
    """Human names and units of parameter names, from an objective's :attr:`Objective.parameters`.

    An indexed name (``f_offset[O1]``) takes its base's description and adds where it applies.

    Examples
    --------
    >>> from neurotwin.twin.objectives import describe
    >>> describe(["f", "f_offset[O1]"], {"f": ("alpha frequency", "Hz"),
    ...                                  "f_offset": ("alpha frequency offset", "Hz")})
    (['alpha frequency', 'alpha frequency offset, O1'], ['Hz', 'Hz'])
    """
    labels, units = [], []
    for name in names:
        base, _, where = str(name).partition("[")
        if base not in parameters:
            raise ConfigError(f"parameter {name!r} is not declared (known: {sorted(parameters)}).")
        label, unit = parameters[base]
        labels.append(f"{label}, {where[:-1]}" if where else label)
        units.append(unit)
    return labels, units


def _hits(features, name: str) -> list[str]:
    """The keys of a FeatureSet's arrays called ``name`` (keys may carry ``subject/session/`` prefixes)."""
    return [k for k in features.arrays if k == name or k.endswith("/" + name)]


def feature_array(features, name: str):
    """The one array called ``name`` in a FeatureSet (keys may carry ``subject/session/`` prefixes)."""
    hits = _hits(features, name)
    if len(hits) != 1:
        raise DataError(
            f"the features need exactly one {name!r} array (found {len(hits)}); compute them "
            f"with the features step (features = [{name!r}, ...])."
        )
    return features.arrays[hits[0]]


def optional_array(features, name: str):
    """The one array called ``name`` in a FeatureSet, or None when it has none (or several)."""
    hits = _hits(features, name)
    return features.arrays[hits[0]] if len(hits) == 1 else None


class Objective:
    """Base class of twin objectives: the methods :class:`~neurotwin.twin.Twin` calls.

    Subclasses set ``modality``, ``quality`` (the diagnostics key of the fit
    quality) and ``poor_fit`` (below it the fit is reported as poor),
    ``parameters`` (each parameter's human name and natural-scale unit, by
    base name), ``change_thresholds`` (the smallest change worth flagging per
    parameter, on the unconstrained scale) and implement the methods below.
    """

    modality: ClassVar[str] = ""
    #: None for a modality's default likelihood; else the name ``Twin(likelihood=...)`` chooses it by
    likelihood: ClassVar[str | None] = None
    #: the features (arrays) it is built from, which a pipeline's features step must compute
    needs: ClassVar[tuple[str, ...]] = ()
    quality: ClassVar[str] = ""
    poor_fit: ClassVar[float] = 0.0
    #: base name -> (human name, unit on the natural scale)
    parameters: ClassVar[dict[str, tuple[str, str]]] = {}
    change_thresholds: ClassVar[dict] = {}
    #: the template connectome used when the patient has none (None: the patient's is required)
    template: ClassVar[str | None] = None
    #: the features' summary kept in the state (channels or regions, grid, digest, ...)
    summary: dict
    n_extra: int = 0
    edge_sd: float = 1.0

    @classmethod
    def drift_scale(cls, names) -> np.ndarray:
        """Per parameter, the share of the twin's process noise it gets between sessions (all: 1)."""
        return np.ones(len(names))

    #: the modalities it models (a joint objective: several); default: ``(modality,)``
    parts: ClassVar[tuple[str, ...]] = ()
    #: each fit-quality key of the diagnostics with the threshold below which the fit is poor;
    #: default: ``{quality: poor_fit}``
    qualities: ClassVar[dict[str, float]] = {}

    #: each fit-quality key with the modality it measures (default: ``qualities`` and ``parts`` in order)
    quality_parts: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs):
        """Derive ``parts``, ``qualities`` and ``quality_parts`` of a class that declares its modality or
        quality only."""
        super().__init_subclass__(**kwargs)
        if "modality" in cls.__dict__ and "parts" not in cls.__dict__:
            cls.parts = (cls.modality,)
        if ("quality" in cls.__dict__ or "poor_fit" in cls.__dict__) and "qualities" not in cls.__dict__:
            cls.qualities = {cls.quality: cls.poor_fit}
        if "quality_parts" not in cls.__dict__:
            cls.quality_parts = dict(zip(cls.qualities, cls.parts))

    @classmethod
    def build(cls, features, connectome, twin) -> Objective:  # pragma: no cover - abstract
        """The objective of one session's features (``twin``: its settings and first state)."""
        raise NotImplementedError

    def __call__(self, theta):  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, theta):  # pragma: no cover - abstract
        """The modelled features at ``theta`` (a FeatureArray like :meth:`observed`)."""
        raise NotImplementedError

    def observed(self):  # pragma: no cover - abstract
        """The session's features as the objective sees them (a FeatureArray)."""
        raise NotImplementedError

    def score(self, theta) -> dict:  # pragma: no cover - abstract
        """``loglik`` per modelled value and ``r`` of prediction and observation at ``theta``."""
        raise NotImplementedError

    def diagnostics(self, theta, posterior, prior) -> dict:
        """Fit diagnostics beyond the optimiser's (at least :attr:`quality`)."""
        return {self.quality: self.score(theta)["r"]}

    @staticmethod
    def network(state, connectome) -> tuple:  # pragma: no cover - abstract
        """``(connectome, params, kwargs)`` of the fitted network, for :func:`neurotwin.model.what_if`."""
        raise NotImplementedError


def digest(*arrays) -> str:
    """A short SHA-256 of arrays (what a state was fitted to, without the data)."""
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        if np.iscomplexobj(a):  # (a cross-spectrum: its real and imaginary parts)
            a = np.stack([a.real, a.imag])
        h.update(np.ascontiguousarray(a, dtype=float).tobytes())
    return h.hexdigest()[:16]
