"""EEG and MEG in one likelihood: one network seen by both kinds of sensors (the ``eeg+meg`` objective).

A Neuromag/MEGIN recording often carries EEG next to its magnetometers and
gradiometers; a study may also record the two apart. Both see the same
cortical network, through different physics: EEG the potentials on the
scalp (:mod:`.eeg_psd`, average reference), MEG the magnetic field outside
the head (:mod:`.meg_psd`, no reference, blind to radial sources). This
objective is the sum of the two Whittle log-likelihoods over **one**
parameter vector:

* the **network** (damping, alpha frequency, coupling, conduction velocity
  and each region's damping and frequency offsets) is shared exactly: the
  same neural masses at the same time scale, whichever sensors see them;
* each kind of sensors has its **own observation model** (gain, aperiodic
  background, exponent and knee, beta rhythm, each channel's offsets): the
  EEG's named as in the ``eeg`` twin, the MEG's prefixed ``meg_``. The
  sensors' own noise and the head's conductivity differ, and the aperiodic
  component and beta rhythm are modelled at the sensors, not in the
  network.

Since the EEG and MEG spectra are two independent looks (their
cross-spectrum is not used), a session may have either: a part without
channels in it adds nothing, and its observation parameters keep their
prior (the previous state's). The first session needs both (it sets each
part's channels and units). A MEG recording's EEG channels are the EEG
part's; so are the channels of an EEG recording of the same session,
when the pipeline joins the two (:mod:`neurotwin.pipeline`).

Examples
--------
>>> from neurotwin.twin.objectives import OBJECTIVES
>>> OBJECTIVES["eeg+meg"].parts, sorted(OBJECTIVES["eeg+meg"].qualities)
(('eeg', 'meg'), ['eeg_r_log_psd', 'meg_r_log_psd'])
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from ...errors import ConfigError, DataError
from ..inference import Prior
from .base import Objective, describe, optional_array, register_objective
from .eeg_params import NETWORK
from .eeg_psd import SpectrumObjective
from .meg_psd import MegSpectrumObjective
from .parts import Layout, build_parts, part_record, sub_prior

__all__ = ["EegMegObjective", "NETWORK"]

_PART = {"eeg": SpectrumObjective, "meg": MegSpectrumObjective}


def _is_network(name: str) -> bool:
    return str(name).partition("[")[0] in NETWORK


@register_objective
class EegMegObjective(Objective):
    """The sum of an EEG and an MEG spectrum's negative log-likelihoods, with one network.

    ``theta`` is the EEG part's parameters (network and EEG observation
    model, named as in :class:`SpectrumObjective`), then the MEG part's
    observation parameters (``meg_gain``, ..., ``meg_gain_offset[MEG 0111]``,
    ...). Built by :meth:`build` from a session's features.

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> Twin("01", modality="eeg+meg").fit(None)
    Traceback (most recent call last):
    ...
    neurotwin.errors.DataError: a twin is fitted to a FeatureSet, not NoneType.
    """

    modality = "eeg+meg"
    parts: ClassVar[tuple[str, ...]] = ("eeg", "meg")
    quality = SpectrumObjective.quality
    poor_fit = SpectrumObjective.poor_fit
    qualities: ClassVar[dict[str, float]] = {
        f"{m}_{SpectrumObjective.quality}": SpectrumObjective.poor_fit for m in ("eeg", "meg")
    }
    quality_parts: ClassVar[dict[str, str]] = {f"{m}_{SpectrumObjective.quality}": m for m in ("eeg", "meg")}
    template = SpectrumObjective.template
    parameters: ClassVar[dict] = {
        **SpectrumObjective.parameters,
        **{
            f"meg_{k}": (f"MEG {v[0]}", v[1])
            for k, v in SpectrumObjective.parameters.items()
            if k not in NETWORK
        },
    }
    #: the network's, as the EEG twin's (the observation models are not followed)
    change_thresholds = SpectrumObjective.change_thresholds
    tolerance = SpectrumObjective.tolerance

    def __init__(self, eeg, meg, *, present: tuple[str, ...]):
        self.eeg, self.meg = eeg, meg
        self.present = tuple(present)
        names_e, names_m = list(eeg.prior.names), list(meg.prior.names)
        net_e = [n for n in names_e if _is_network(n)]
        net_m = [n for n in names_m if _is_network(n)]
        if net_e != net_m:
            raise DataError(
                "the EEG and MEG parts model different networks (their regions differ); an EEG+MEG "
                "twin needs one connectome for both."
            )
        self.p_e = len(names_e)
        own_m = [i for i, n in enumerate(names_m) if not _is_network(n)]
        # where each of the MEG part's parameters sits in theta: the network's in the EEG part's
        self.idx_m = np.array(
            [names_e.index(n) if _is_network(n) else self.p_e + own_m.index(i) for i, n in enumerate(names_m)]
        )
        self.n_params = self.p_e + len(own_m)
        names = names_e + [f"meg_{names_m[i]}" for i in own_m]
        pe, pm = eeg.prior, meg.prior
        labels, units = describe(names, self.parameters)
        self.prior = Prior(
            names,
            list(pe.transforms) + [pm.transforms[i] for i in own_m],
            np.concatenate([pe.mean, np.asarray(pm.mean)[own_m]]),
            np.concatenate([pe.sd, np.asarray(pm.sd)[own_m]]),
            labels=labels,
            units=units,
        )
        # the domain: a global parameter's (the same for both kinds of sensors), none for the offsets
        domain = {}
        for part in (eeg, meg):
            if not isinstance(part, Layout):
                domain.update(zip(part.prior.names[: part.n_global], part.bounds[: part.n_global]))
        self.bounds = [domain.get(n, (None, None)) for n in names_e] + [
            domain.get(names_m[i], (None, None)) for i in own_m
        ]
        self.regions = getattr(eeg, "regions", None) or getattr(meg, "regions", None)
        self.regional = any(_is_network(n) and n.startswith("a_offset[") for n in names_e)

    # ------------------------------------------------------------------ parameters
    def _index(self, part: str) -> np.ndarray:
        return np.arange(self.p_e) if part == "eeg" else self.idx_m

    def _theta_of(self, part: str, theta) -> np.ndarray:
        return np.asarray(theta, float)[self._index(part)]

    def _present_parts(self):
        return [(m, self.eeg if m == "eeg" else self.meg) for m in self.present]

    # ------------------------------------------------------------------ likelihood
    def __call__(self, theta):
        theta = np.asarray(theta, float)
        nll, grad = 0.0, np.zeros(self.n_params)
        for m, part in self._present_parts():
            value, g = part(self._theta_of(m, theta))
            if not np.isfinite(value):
                return np.inf, np.zeros(self.n_params)
            nll += value
            np.add.at(grad, self._index(m), g)
        if not (np.isfinite(nll) and np.isfinite(grad).all()):
            return np.inf, np.zeros(self.n_params)
        return float(nll), grad

    def fisher(self, theta) -> np.ndarray:
        """The two parts' expected information, each on its parameters (the network's adds)."""
        h = np.zeros((self.n_params, self.n_params))
        for m, part in self._present_parts():
            idx = self._index(m)
            h[np.ix_(idx, idx)] += part.fisher(self._theta_of(m, theta))
        return h

    def block_scores(self, theta) -> np.ndarray | None:
        """The parts' blocks' scores on ``theta``'s parameters (None if a present part has no blocks).

        Blocks of the same number are summed (one recording's EEG and MEG: the same stretches of
        time; two recordings: independent, so their sum's spread is the sum of theirs), else stacked.
        """
        scores = []
        for m, part in self._present_parts():
            s = part.block_scores(self._theta_of(m, theta))
            if s is None:
                return None
            full = np.zeros((len(s), self.n_params))
            for k, i in enumerate(self._index(m)):
                full[:, i] += s[:, k]
            scores.append(full)
        if len(scores) == 2 and len(scores[0]) == len(scores[1]):
            return scores[0] + scores[1]
        return np.concatenate(scores)

    def reweight(self, theta) -> None:
        """Each present part's own re-weighting (:meth:`SpectrumObjective.reweight`)."""
        for m, part in self._present_parts():
            part.reweight(self._theta_of(m, theta))

    @property
    def maxiter(self) -> int:
        return max(getattr(part, "maxiter", 500) for _, part in self._present_parts())

    def starts(self, prior: Prior, first: bool = True) -> list[np.ndarray]:
        """The EEG part's starts, each with the MEG part's observation model fitted to its network.

        With no EEG in the session, the MEG part's own starts.
        """
        mean = np.asarray(prior.mean, float)
        prior_m = sub_prior(prior, self.idx_m, names=self.meg.prior.names)
        if "eeg" not in self.present:
            out = []
            for start in self.meg.starts(prior_m, first=first):
                x = mean.copy()
                x[self.idx_m] = start
                out.append(x)
            return out
        out = []
        for start in self.eeg.starts(sub_prior(prior, np.arange(self.p_e)), first=first):
            x = mean.copy()
            x[: self.p_e] = start
            if "meg" in self.present:
                th = np.array(self.meg.start if first else x[self.idx_m], float)
                net = np.array([_is_network(n) for n in self.meg.prior.names])
                th[net] = x[self.idx_m[net]]
                x[self.idx_m] = self.meg.refine_observation(th, prior_m)  # (its network: the same)
            out.append(x)
        return out

    # ------------------------------------------------------------------ the objective protocol
    @classmethod
    def _view(cls, features, part: str):
        """The features as a part reads them: an MEG recording's joined with an EEG recording's of the
        same session are tagged ``meg:`` (:meth:`neurotwin.features.FeatureSet.tagged`)."""
        return features.view("meg") if part == "meg" and hasattr(features, "view") else features

    @classmethod
    def parts_in(cls, features) -> tuple[str, ...]:
        """The parts (``"eeg"``, ``"meg"``) these features have channels of."""
        found = []
        for m in cls.parts:
            view = cls._view(features, m)
            psd = optional_array(view, "psd")
            if psd is not None and _PART[m]._channels(view, list(psd.coords["channel"])):
                found.append(m)
        return tuple(found)

    @classmethod
    def build(cls, features, connectome, twin) -> EegMegObjective:
        """The objective of a session's features: each part from its own channels, else the first state's."""
        first = twin.states_[0] if twin.states_ else None
        present = cls.parts_in(features)
        if not present:
            raise DataError("these features have no EEG or MEG channels in a 'psd' array.")
        if first is None and len(present) < len(cls.parts):
            missing = [m.upper() for m in cls.parts if m not in present]
            raise DataError(
                f"the first session of an EEG+MEG twin needs both; these features have no "
                f"{' or '.join(missing)} channels in their 'psd' (a MEG recording's own EEG counts)."
            )
        built = build_parts(_PART, present, features, connectome, twin, view=cls._view)
        obj = cls(built["eeg"], built["meg"], present=present)
        records = {m: part_record(built[m]) for m in cls.parts}
        top = records[present[0]]
        heads = {records[m]["head"] for m in present}
        obj.summary = {
            **{k: v for k, v in top.items() if k not in ("prior", "n_extra", "channel_scale")},
            "channels": [c for m in present for c in records[m]["channels"]],
            "head": " | ".join(f"{m.upper()}: {records[m]['head']}" for m in present)
            if len(heads) > 1
            else top["head"],
            "modalities": list(present),
            "parts": records,
        }
        return obj

    def predict(self, theta) -> dict:
        """Each present part's model PSD: ``{"eeg": FeatureArray, "meg": FeatureArray}``."""
        return {m: part.predict(self._theta_of(m, theta)) for m, part in self._present_parts()}

    def observed(self) -> dict:
        """Each present part's PSD as fitted: ``{"eeg": ..., "meg": ...}``."""
        return {m: part.observed() for m, part in self._present_parts()}

    @property
    def n_values(self) -> int:
        """The number of modelled values (both parts' PSD bins)."""
        return sum(part.n_values for _, part in self._present_parts())

    def score(self, theta) -> dict:
        """Each part's ``loglik`` and ``r`` (``eeg_r``, ``meg_r``); over both, the log-likelihood per
        value, and ``r`` of the first present part."""
        out, total = {}, 0.0
        for m, part in self._present_parts():
            s = part.score(self._theta_of(m, theta))
            out[f"{m}_loglik"], out[f"{m}_r"] = s["loglik"], s["r"]
            total += s["loglik"] * part.n_values
        out["loglik"] = total / self.n_values
        out["r"] = out[f"{self.present[0]}_r"]
        return out

    def diagnostics(self, theta, posterior, prior) -> dict:
        """Each part's fit quality (``eeg_r_log_psd``, ``meg_r_log_psd``) and diagnostics (the MEG
        part's prefixed ``meg_``)."""
        diag: dict = {"warnings": [], "modalities": list(self.present)}
        for m, part in self._present_parts():
            idx = self._index(m)
            more = part.diagnostics(
                self._theta_of(m, theta),
                SimpleNamespace(sd=np.asarray(posterior.sd)[idx]),
                SimpleNamespace(sd=np.asarray(prior.sd)[idx]),
            )
            diag["warnings"] += [f"{m.upper()}: {w}" for w in more.pop("warnings", [])]
            diag[f"{m}_{self.quality}"] = more.pop(self.quality)
            diag.update({(k if m == "eeg" else f"meg_{k}"): v for k, v in more.items()})
        diag[self.quality] = diag[f"{self.present[0]}_{self.quality}"]
        return diag

    network = staticmethod(SpectrumObjective.network)

    # sensors, for Twin.simulate
    def _simulated(self):
        if "eeg" not in self.present:
            raise ConfigError(
                "an EEG+MEG twin simulates its EEG channels; this session has none (simulate with a "
                "session that has them, or fit an MEG twin)."
            )
        return self.eeg

    def sensor_csd(self, theta, freqs):
        """The EEG part's sensor cross-spectrum (``Twin.simulate`` of an EEG+MEG twin: its EEG)."""
        return self._simulated().sensor_csd(self._theta_of("eeg", theta), freqs)

    def sensor_info(self, sfreq: float):
        """The EEG part's channels as an ``mne.Info``."""
        return self._simulated().sensor_info(sfreq)

    @property
    def si_factor(self):
        return getattr(self._simulated(), "si_factor", None)
