"""The per-patient twin: fit to a first session, updated by later ones, append-only."""

from __future__ import annotations

import hashlib
import time

import mne
import numpy as np

from .. import __version__
from .._logging import logger, verbose
from ..errors import ConfigError, DataError
from ..features.featureset import FeatureSet
from ..io.channels import standard_montage
from ..io.connectome import Connectome
from ..model.connectome import normalize_weights, template_connectome
from ..model.leadfield import sphere_leadfield
from .bold import BoldObjective
from .eeg import SpectrumObjective
from .inference import Prior, fit_map, from_unconstrained
from .longitudinal import changes, forecast, trajectory
from .state import TwinState

__all__ = ["Twin"]

#: default smallest change worth flagging, natural units (identity params) or log-ratio (log params)
CHANGE_THRESHOLDS = {"eeg": {"f": 0.5, "exponent": 0.3, "a": 0.4, "G": 0.5, "velocity": 0.5, "gain": 0.5,
                             "background": 0.5},
                     "bold": {"G": 0.3}}


def _array(features: FeatureSet, name: str):
    hits = [k for k in features.arrays if k == name or k.endswith("/" + name)]
    if len(hits) != 1:
        raise DataError(f"the features need exactly one {name!r} array (found {len(hits)}); compute them "
                        f"with the features step (features = [{name!r}, ...]).")
    return features.arrays[hits[0]]


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=float).tobytes())
    return h.hexdigest()[:16]


class Twin:
    """A neurological digital twin of one patient.

    Parameters
    ----------
    subject : str
        The patient's (pseudonymous) label.
    modality : "eeg" | "bold"
        What the twin is fitted to: sensor PSDs (EEG, MEG magnetometers
        are not modelled) or BOLD functional connectivity.
    connectome : Connectome | None
        The patient's own connectome; None takes TVB's 76-region template
        for EEG (needs the ``tvb`` extra). BOLD needs the patient's (its
        labels must be the FC's regions).
    effective_connectivity : bool
        BOLD: fit a log-modifier per connection (shrunk to the connectome).
    process_noise : float
        Random-walk variance per day of every parameter (unconstrained
        scale) between sessions: how much the brain may drift unremarked.
    restarts : int
        Extra optimiser starts drawn from the prior (first fit only). EEG
        fits always start from the data's alpha peak as well (default 0:
        one start, which keeps a 64-channel fit under 30 s).
    random_state : int | None
        Seed of the restarts and of forecasts' draws.

    Attributes
    ----------
    states_ : list of TwinState
        One per session, in time order (append-only).

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> twin = Twin("01", modality="eeg")
    >>> twin.states_
    []
    """

    def __init__(self, subject: str, *, modality: str = "eeg", connectome: Connectome | None = None,
                 effective_connectivity: bool = True, process_noise: float = 2.5e-4, restarts: int = 0,
                 change_thresholds: dict | None = None, random_state: int | None = 0):
        if modality not in ("eeg", "bold"):
            raise ConfigError(f"modality must be 'eeg' or 'bold', got {modality!r}.")
        if not np.isfinite(process_noise) or process_noise < 0:
            raise ConfigError(f"process_noise must be >= 0, got {process_noise!r}.")
        self.subject = str(subject)
        self.modality = modality
        self.connectome = connectome
        self.effective_connectivity = effective_connectivity
        self.process_noise = float(process_noise)
        self.restarts = int(restarts)
        self.change_thresholds = {**CHANGE_THRESHOLDS[modality], **(change_thresholds or {})}
        self.random_state = random_state
        self.states_: list[TwinState] = []
        self._leadfield = None

    # ------------------------------------------------------------------ set-up
    def _connectome(self) -> Connectome:
        if self.connectome is None:
            if self.modality == "bold":
                raise ConfigError("a BOLD twin needs the patient's connectome (connectome=...): its regions "
                                  "must be the FC's.")
            self.connectome = template_connectome("tvb76")
        return normalize_weights(self.connectome, "max")

    def _objective(self, features: FeatureSet):
        if not isinstance(features, FeatureSet):
            raise DataError(f"a twin is fitted to a FeatureSet, not {type(features).__name__}.")
        con = self._connectome()
        if self.modality == "eeg":
            psd = _array(features, "psd")
            chans, freqs = list(psd.coords["channel"]), np.asarray(psd.coords["freq"], float)
            settings = (features.provenance or {}).get("psd") or {}
            if "n_averages" not in settings:
                raise DataError("the features do not record how many segments the PSD averages "
                                "(provenance['psd']['n_averages']); recompute them with this neurotwin.")
            if self.states_ and chans != self.states_[0].features["channels"]:
                raise DataError(f"these features have channels {chans[:4]}... but the twin was fitted to "
                                f"{self.states_[0].features['channels'][:4]}... (a different montage); "
                                f"refit a new twin or pick the same channels.")
            if con.tract_lengths is None or con.centres is None:
                raise DataError("an EEG twin needs a connectome with tract lengths and region centres.")
            if self._leadfield is None or self._leadfield.ch_names != chans:
                info = mne.create_info(chans, 1000.0, "eeg")
                missing = [c for c in chans if c not in standard_montage().ch_names]
                if missing:
                    raise DataError(f"channel(s) {missing[:5]} have no standard 10-05 position for the "
                                    f"lead field; drop them or rename them.")
                info.set_montage(standard_montage(), verbose="error")
                self._leadfield = sphere_leadfield(info, con.centres, con.labels)
            obj = SpectrumObjective(con.weights, con.tract_lengths, self._leadfield.gain, freqs,
                                    np.asarray(psd.values, float), settings["n_averages"])
            summary = {"channels": chans, "freqs": [float(freqs[0]), float(freqs[-1])],
                       "n_averages": float(settings["n_averages"]), "digest": _digest(psd.values)}
            for feat in ("iaf", "aperiodic_exponent"):
                t = features.table
                vals = t[(t["feature"] == feat) & (t["status"] == "ok")]["value"]
                if len(vals):
                    summary[feat] = float(np.median(vals))
            return obj, summary
        fc = _array(features, "fc_pearson")
        labels = list(fc.coords["region"])
        t = features.table
        peaks = t[t["feature"] == "bold_peak_freq"].set_index("location")["value"]
        t_eff = t[t["feature"] == "bold_t_eff"]["value"]
        if len(t_eff) != 1 or any(lab not in peaks.index for lab in labels):
            raise DataError("the BOLD features need bold_peak_freq per region and bold_t_eff (the "
                            "'bold_dynamics' feature).")
        if con.labels is None or list(con.labels) != labels:
            raise DataError("the connectome's region labels must equal the FC's, in the same order "
                            f"(FC starts {labels[:3]}, connectome {list(con.labels or [])[:3]}).")
        if self.states_ and labels != self.states_[0].features["regions"]:
            raise DataError("these BOLD features have other regions than the twin's first session.")
        values = np.asarray(fc.values, float)
        if not np.isfinite(values).all():
            raise DataError("the FC matrix has NaN values; check the parcellation (empty regions).")
        obj = BoldObjective(con.weights, values, float(t_eff.iloc[0]), peaks[labels].to_numpy(), labels,
                            effective=self.effective_connectivity)
        iu = np.triu_indices(len(labels), 1)
        summary = {"regions": labels, "t_eff": float(t_eff.iloc[0]), "digest": _digest(values),
                   "fc_mean": float(np.mean(values[iu])), "peak_freqs": [float(x) for x in peaks[labels]]}
        return obj, summary

    # ------------------------------------------------------------------ fitting
    def _fit_state(self, features, session, at, prior: Prior, extra_mean, restarts) -> TwinState:
        obj, summary = self._objective(features)
        if prior is None:
            prior = obj.prior
        elif list(prior.names) != list(obj.prior.names):
            raise DataError("these features give other parameters than the twin's (different regions?).")
        t0 = time.perf_counter()
        n_extra = getattr(obj, "n_extra", 0)
        starts = None
        if hasattr(obj, "start"):
            # from the data's own starting point, and (updates) from the previous state
            starts = [obj.start] if prior is obj.prior else [np.array(prior.mean), obj.start]
        post, info = fit_map(obj, prior, n_extra=n_extra, extra_sd=getattr(obj, "edge_sd", 1.0),
                             extra_mean=extra_mean, x0=starts, restarts=restarts,
                             random_state=self.random_state, hessian=not hasattr(obj, "reweight"))
        if hasattr(obj, "reweight"):
            # weigh frequencies by the fitted model's channel redundancy, then refine and take the posterior
            obj.reweight(post.mean)
            evals = info["n_evals"]
            post, info = fit_map(obj, prior, x0=[np.array(post.mean)], restarts=0,
                                 random_state=self.random_state)
            info["n_evals"] += evals
        theta = np.concatenate([post.mean, post.extra.get("theta_extra", np.zeros(0))])
        diag = {"nll": info["nll"], "converged": info["converged"], "n_evals": info["n_evals"],
                "warnings": info["warnings"], "seconds": round(time.perf_counter() - t0, 2)}
        if self.modality == "eeg":
            model = obj.model_psd(theta)
            diag["r_log_psd"] = float(np.corrcoef(np.log(model).ravel(), np.log(obj.psd).ravel())[0, 1])
            fine = np.arange(7.0, 14.0001, 0.05)  # the model's alpha peak on a fine grid
            peak = float(fine[np.argmax(obj.predict(theta, fine).mean(axis=0))])
            diag["model_iaf"] = peak
            if "iaf" in summary:
                diag["iaf_error"] = peak - summary["iaf"]
        else:
            iu = np.triu_indices(obj.n, 1)
            diag["fc_r"] = float(np.corrcoef(obj.model_fc(theta)[iu], obj.fc[iu])[0, 1])
        prov = {"neurotwin": __version__, "model": "hopf", "modality": self.modality,
                "connectome": getattr(self.connectome, "name", "") or "subject",
                "prior": "template" if not self.states_ else f"state {self.states_[-1].index}",
                "process_noise": self.process_noise, "random_state": self.random_state,
                "features": {k: v for k, v in (features.provenance or {}).items()
                             if k in ("neurotwin", "psd")}}
        for w in info["warnings"]:
            logger.warning("twin %s, session %s: %s", self.subject, session, w)
        return TwinState(len(self.states_), str(session), float(at), post, summary, diag, prov)

    @verbose
    def fit(self, features: FeatureSet, *, session: str | None = None, at: float = 0.0, verbose=None) -> Twin:
        """Fit the twin to its first session (discarding any earlier states).

        Parameters
        ----------
        features : FeatureSet
            The session's features (``psd`` for EEG; ``bold_dynamics`` for BOLD).
        session : str | None
            Session label (default: the features' session).
        at : float
            Days since the first session (0 here).
        verbose : bool | str | int | None
            Log level.

        Returns
        -------
        self : Twin
        """
        if not isinstance(features, FeatureSet):
            raise DataError(f"a twin is fitted to a FeatureSet, not {type(features).__name__}.")
        session = session or self._session_of(features)
        self.states_ = []
        self.states_.append(self._fit_state(features, session, at, None, None, self.restarts))
        logger.info("twin %s fitted to session %s (%s)", self.subject, session,
                    self._quality(self.states_[-1]))
        return self

    @verbose
    def update(self, features: FeatureSet, *, session: str | None = None, at: float, verbose=None) -> Twin:
        """Add a later session: Bayesian update with the last posterior (plus drift) as the prior.

        The new state is appended only if the fit succeeds; a failure
        leaves the twin as it was.

        Parameters
        ----------
        features : FeatureSet
            The new session's features (same montage or regions as the first).
        session : str | None
            Its label.
        at : float
            Days since the first session (after the last state's).
        verbose : bool | str | int | None
            Log level.

        Returns
        -------
        self : Twin
        """
        if not self.states_:
            raise ConfigError("this twin has no state yet; call fit() with the first session.")
        if not isinstance(features, FeatureSet):
            raise DataError(f"a twin is fitted to a FeatureSet, not {type(features).__name__}.")
        session = session or self._session_of(features)
        last = self.states_[-1]
        if not np.isfinite(at) or at <= last.at:
            raise DataError(f"session {session!r} at day {at} is not after the last state ({last.session!r}, "
                            f"day {last.at}); add sessions in time order.")
        if session in {s.session for s in self.states_}:
            raise DataError(f"session {session!r} is already in this twin.")
        post = last.posterior
        drift = self.process_noise * (at - last.at)
        prior = Prior(post.names, post.transforms, np.array(post.mean), np.sqrt(np.diag(post.cov) + drift),
                      cov=np.array(post.cov) + drift * np.eye(len(post.names)))
        state = self._fit_state(features, session, at, prior, post.extra.get("theta_extra"), 0)
        self.states_.append(state)
        logger.info("twin %s updated with session %s (%s)", self.subject, session, self._quality(state))
        return self

    @staticmethod
    def _session_of(features: FeatureSet) -> str:
        sessions = sorted(set(features.table["session"])) if len(features.table) else []
        return sessions[0] if len(sessions) == 1 and sessions[0] else "01"

    @staticmethod
    def _quality(state: TwinState) -> str:
        d = state.diagnostics
        if "r_log_psd" in d:
            return f"log-PSD r = {d['r_log_psd']:.2f}, model alpha peak {d['model_iaf']:.2f} Hz"
        return f"FC r = {d['fc_r']:.2f}"

    def theta(self, state: int = -1) -> np.ndarray:
        """All unconstrained parameters of a state (posterior mean, then MAP extras)."""
        post = self.states_[state].posterior
        return np.concatenate([post.mean, post.extra.get("theta_extra", np.zeros(0))])

    def natural(self, theta: np.ndarray, state: int = -1) -> dict[str, float]:
        """Natural-scale values of the summary parameters in ``theta``."""
        post = self.states_[state].posterior
        return {n: float(from_unconstrained(t, tr)) for n, t, tr in zip(post.names, theta, post.transforms)}

    # ------------------------------------------------------------------ longitudinal
    def trajectory(self, name: str, level: float = 0.9):
        """One parameter across sessions with its credible band (see :func:`longitudinal.trajectory`)."""
        return trajectory(self, name, level)

    def changes(self, *, probability: float = 0.95, feature_sd: dict | None = None):
        """Changes against the baseline session (see :func:`longitudinal.changes`)."""
        return changes(self, probability=probability, feature_sd=feature_sd)

    def forecast(self, at: float, *, level: float = 0.9, names=None):
        """Parameters and features predicted at day ``at`` (see :func:`longitudinal.forecast`)."""
        return forecast(self, at, level=level, names=names)

    def what_if(self, state: int = -1, **changes_):
        """Run the twin's model with a change (lesion, coupling, parameters) against itself.

        Keyword arguments go to :func:`neurotwin.model.what_if` (e.g.
        ``lesion_regions=["rV1"]``, ``coupling_scale=0.5``); the baseline is
        this state's fitted network.

        Returns
        -------
        result : neurotwin.model.WhatIf
        """
        from ..model.whatif import what_if

        if not self.states_:
            raise ConfigError("the twin has no fitted state yet.")
        p = self.natural(self.states_[state].posterior.mean, state)
        con = self._connectome()
        if self.modality == "eeg":
            params = {"a": p["a"], "f": p["f"], "G": p["G"], "sigma": 1.0}
            return what_if(con, params, conduction_velocity=p["velocity"], **changes_)
        st = self.states_[state]
        labels = st.features["regions"]
        params = {"a": np.array([p[f"a[{lb}]"] for lb in labels]), "f": np.array(st.features["peak_freqs"]),
                  "G": p["G"], "sigma": np.array([p[f"sigma[{lb}]"] for lb in labels])}
        weights = con.weights.copy()
        extra = st.posterior.extra.get("theta_extra")
        if extra is not None and len(extra):
            mask = con.weights > 0
            weights[mask] = weights[mask] * np.exp(extra)
        effective = Connectome(weights, labels=labels, directed=True, name="effective")
        freqs = changes_.pop("freqs", np.linspace(0.005, 0.15, 59))
        return what_if(effective, params, freqs=freqs, **changes_)

    def __repr__(self) -> str:
        return f"<Twin {self.subject} | {self.modality}, {len(self.states_)} state(s)>"
