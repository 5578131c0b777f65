"""The per-patient twin: fit to a first session, updated by later ones, append-only."""

from __future__ import annotations

import time

import numpy as np

from .. import __version__
from .._logging import logger, verbose
from ..errors import ConfigError, DataError
from ..features.featureset import FeatureSet
from ..io.connectome import Connectome
from ..model.connectome import normalize_weights, template_connectome
from .inference import Posterior, Prior, fit_map, from_unconstrained, own_evidence, sandwich
from .longitudinal import changes, forecast, session_values, trajectory
from .objectives import OBJECTIVES, get_objective
from .state import TwinState
from .variability import Variability

__all__ = ["Twin"]

#: default smallest change worth flagging per modality, natural units (identity params) or log-ratio
CHANGE_THRESHOLDS = {m: dict(cls.change_thresholds) for m, cls in OBJECTIVES.items()}


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
    head : "auto" | "cortex" | "centres"
        EEG head model: dipoles normal to the template cortex (TVB's
        16k-vertex surface, summed per region; needs the 76-region
        template), or one radial dipole at each region centre; ``auto``
        takes the cortex when the connectome has one. Both in a
        three-shell sphere fitted to the electrodes.
    variability : dict | None
        The population's between-session SDs (``Variability.to_dict()``, e.g.
        a study's :func:`~neurotwin.twin.variability.estimate_variability`);
        None: the built-in defaults (:mod:`neurotwin.twin.variability`).
        Change detection uses them until the twin has its own history.
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
                 change_thresholds: dict | None = None, head: str = "auto", variability: dict | None = None,
                 random_state: int | None = 0):
        get_objective(modality)  # a known modality (the error names them)
        if not np.isfinite(process_noise) or process_noise < 0:
            raise ConfigError(f"process_noise must be >= 0, got {process_noise!r}.")
        self.subject = str(subject)
        self.modality = modality
        self.connectome = connectome
        self.effective_connectivity = effective_connectivity
        self.process_noise = float(process_noise)
        self.restarts = int(restarts)
        self.change_thresholds = {**get_objective(modality).change_thresholds, **(change_thresholds or {})}
        self.random_state = random_state
        if head not in ("auto", "cortex", "centres"):
            raise ConfigError(f"head must be 'auto', 'cortex' or 'centres', got {head!r}.")
        self.head = head
        self.variability = Variability.from_dict(variability).to_dict() if variability else None
        self.states_: list[TwinState] = []
        self._cache: dict = {}  # what objectives reuse across sessions (the lead field), in memory only
        self._fitted: dict[int, object] = {}  # state index -> its objective (in memory only)

    # ------------------------------------------------------------------ set-up
    def _connectome(self) -> Connectome:
        if self.connectome is None:
            template = get_objective(self.modality).template
            if template is None:
                raise ConfigError(f"a {self.modality} twin needs the patient's connectome (connectome=...): "
                                  f"its regions must be the features'.")
            self.connectome = template_connectome(template)
        return normalize_weights(self.connectome, "max")

    def _objective(self, features: FeatureSet):
        """The objective of a session's features: ``(objective, summary)``."""
        if not isinstance(features, FeatureSet):
            raise DataError(f"a twin is fitted to a FeatureSet, not {type(features).__name__}.")
        obj = get_objective(self.modality).build(features, self._connectome(), self)
        return obj, obj.summary

    # ------------------------------------------------------------------ fitting
    def _fit_state(self, features, session, at, prior: Prior, extra_mean, restarts) -> TwinState:
        obj, summary = self._objective(features)
        summary = {**summary, "values": session_values(features),
                   "n_blocks": (features.provenance or {}).get("se", {}).get("n_blocks")}
        if prior is None:
            prior = obj.prior
        elif list(prior.names) != list(obj.prior.names):
            raise DataError("these features give other parameters than the twin's (different regions?).")
        t0 = time.perf_counter()
        n_extra = getattr(obj, "n_extra", 0)
        starts = obj.starts(prior, first=prior is obj.prior) if hasattr(obj, "starts") else None
        tol = getattr(obj, "tolerance", None)
        maxiter = getattr(obj, "maxiter", 500)
        reweight = hasattr(obj, "reweight")
        post, info = fit_map(obj, prior, n_extra=n_extra, extra_sd=getattr(obj, "edge_sd", 1.0),
                             extra_mean=extra_mean, x0=starts, restarts=restarts,
                             random_state=self.random_state, hessian=not reweight, tol=tol,
                             maxiter=maxiter)
        if reweight:
            # weigh frequencies by the fitted model's channel redundancy, then refine and take the posterior
            obj.reweight(post.mean)
            evals = info["n_evals"]
            post, info = fit_map(obj, prior, x0=[np.array(post.mean)], restarts=0,
                                 random_state=self.random_state, tol=tol, maxiter=maxiter)
            info["n_evals"] += evals
        theta = np.concatenate([post.mean, post.extra.get("theta_extra", np.zeros(0))])
        scores = obj.block_scores(theta) if hasattr(obj, "block_scores") else None
        spread = {"posterior": "laplace"}
        laplace, factor = post.cov, None
        if scores is not None and len(scores) >= 3:
            cov, factor = sandwich(post.cov, scores)
            post = Posterior(post.names, post.transforms, post.mean, cov, post.extra)
            spread = {"posterior": f"laplace widened by the sandwich over {len(scores)} blocks",
                      "sd_inflation": {n: round(float(x), 3) for n, x in zip(post.names, factor)
                                       if "[" not in n}}
        # the session's own estimate of the followed parameters (an update's posterior also holds the
        # earlier sessions): what change detection compares
        if prior is obj.prior:  # a first session: its posterior is its own evidence
            own_mean, own_sd = np.asarray(post.mean), np.sqrt(np.diag(laplace)) * (
                1.0 if factor is None else factor)
        else:
            grad = np.asarray(obj(theta)[1], float)[:len(post.mean)]
            own_mean, own_sd = own_evidence(post.mean, laplace, prior, obj.prior, factor, grad=grad)
        template_sd = np.asarray(obj.prior.sd, float)
        summary["own"] = {n: [float(own_mean[i]), float(own_sd[i]), float(template_sd[i])]
                          for i, n in enumerate(post.names) if n in self.change_thresholds}
        diag = {"nll": info["nll"], "converged": info["converged"], "n_evals": info["n_evals"],
                "warnings": info["warnings"], "at_bound": info.get("at_bound", []),
                "seconds": round(time.perf_counter() - t0, 2), **spread}
        more = obj.diagnostics(theta, post, prior)
        diag["warnings"] = [*diag["warnings"], *more.pop("warnings", [])]
        diag.update(more)
        prov = {"neurotwin": __version__, "model": "hopf", "modality": self.modality,
                "objective": type(obj).__name__,
                "connectome": getattr(self.connectome, "name", "") or "subject",
                "prior": "template" if not self.states_ else f"state {self.states_[-1].index}",
                "process_noise": self.process_noise, "random_state": self.random_state,
                "features": {k: v for k, v in (features.provenance or {}).items()
                             if k in ("neurotwin", "psd")}}
        if not info["converged"]:
            logger.warning("twin %s, session %s: the fit stopped before it converged (%s); its parameters "
                           "may be off", self.subject, session, info.get("message", "iteration limit"))
        for w in diag["warnings"]:  # kept in diagnostics["warnings"]; a study run sums them up in one line
            logger.info("twin %s, session %s: %s", self.subject, session, w)
        self._fitted[len(self.states_)] = obj
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
        self._fitted = {}
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
            Days since the first session: the last state's or later (a
            session recorded the same day, or of unknown time, has a
            0-day gap; ``diagnostics["gap_days"]`` keeps it).
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
        if not np.isfinite(at) or at < last.at:
            raise DataError(f"session {session!r} at day {at} is before the last state ({last.session!r}, "
                            f"day {last.at}); add sessions in time order.")
        if session in {s.session for s in self.states_}:
            raise DataError(f"session {session!r} is already in this twin.")
        post = last.posterior
        drift = self.process_noise * (at - last.at)
        prior = Prior(post.names, post.transforms, np.array(post.mean), np.sqrt(np.diag(post.cov) + drift),
                      cov=np.array(post.cov) + drift * np.eye(len(post.names)))
        state = self._fit_state(features, session, at, prior, post.extra.get("theta_extra"), 0)
        state.diagnostics["gap_days"] = float(at - last.at)
        if at == last.at:
            logger.info("twin %s: session %s has a 0-day gap after %s (same day or unknown time)",
                        self.subject, session, last.session)
        self.states_.append(state)
        logger.info("twin %s updated with session %s (%s)", self.subject, session, self._quality(state))
        return self

    def refit_from(self, index: int, sessions: list[tuple[FeatureSet, str, float]], *, verbose=None) -> Twin:
        """Keep the states before ``index`` and fit ``sessions`` after them, in the order given.

        How a session that arrives out of time order is inserted: the
        states from its place on are fitted again, it among them, each on
        top of the one before (:func:`~neurotwin.twin.update_twin`, the
        participant run). Works in memory; a failure leaves a twin to be
        thrown away (the store is written only after every fit succeeded).

        Parameters
        ----------
        index : int
            The first state to fit again (0: all).
        sessions : list of (FeatureSet, str, float)
            Features, session label and day of each session from ``index`` on.
        verbose : bool | str | int | None
            Log level.

        Returns
        -------
        self : Twin
        """
        if not 0 <= index <= len(self.states_):
            raise ConfigError(f"index {index} is outside this twin's {len(self.states_)} states.")
        self.states_ = self.states_[:index]
        self._fitted = {k: v for k, v in self._fitted.items() if k < index}
        for features, session, at in sessions:
            if self.states_:
                self.update(features, session=session, at=at, verbose=verbose)
            else:
                self.fit(features, session=session, at=at, verbose=verbose)
        return self

    @staticmethod
    def _session_of(features: FeatureSet) -> str:
        sessions = sorted(set(features.table["session"])) if len(features.table) else []
        return sessions[0] if len(sessions) == 1 and sessions[0] else "01"

    def _quality(self, state: TwinState) -> str:
        d = state.diagnostics
        quality = get_objective(self.modality).quality
        text = f"{quality} = {d.get(quality, float('nan')):.2f}"
        return text + (f", model alpha peak {d['model_iaf']:.2f} Hz" if "model_iaf" in d else "")

    # ------------------------------------------------------------------ prediction
    def _state(self, state: int):
        if not self.states_:
            raise ConfigError("the twin has no fitted state yet; call fit() first.")
        return self.states_[state]

    def predict(self, features: FeatureSet | None = None, *, state: int = -1):
        """What the twin's model predicts for the features it models, at a state's parameters.

        Parameters
        ----------
        features : FeatureSet | None
            A session's features: the prediction is made for its channels
            (EEG) or regions (BOLD) and on the twin's frequency grid. None
            takes the features the state was fitted to (while the twin is
            in memory).
        state : int
            Which state's parameters (posterior means; default the last).

        Returns
        -------
        prediction : FeatureArray
            EEG: the sensor PSD ``(channel, freq)`` on the twin's 1-Hz grid
            (2-40 Hz, mains bins left out); BOLD: the FC ``(region, region)``.

        Examples
        --------
        >>> from neurotwin.twin import Twin
        >>> Twin("01").predict()
        Traceback (most recent call last):
        ...
        neurotwin.errors.ConfigError: the twin has no fitted state yet; call fit() first.
        """
        st = self._state(state)
        if features is not None:
            obj = self._objective(features)[0]
        elif st.index in self._fitted:
            obj = self._fitted[st.index]
        else:
            raise ConfigError("pass the session's features (predict(features)): the twin keeps its "
                              "parameters, not the recording's channels and their positions.")
        return obj.predict(self.theta(state))

    def observed(self, features: FeatureSet):
        """The features as the twin sees them: the PSD on its grid (EEG) or the FC (BOLD).

        Examples
        --------
        >>> from neurotwin.twin import Twin
        >>> Twin("01").observed({"psd": 1})
        Traceback (most recent call last):
        ...
        neurotwin.errors.DataError: a twin is fitted to a FeatureSet, not dict.
        """
        return self._objective(features)[0].observed()

    def score(self, features: FeatureSet, *, state: int = -1) -> dict[str, float]:
        """How well a state predicts a (held-out) session's features.

        Returns
        -------
        scores : dict
            ``loglik``: the log-likelihood per modelled value (Whittle for
            EEG, Wishart for BOLD, up to a constant); ``r``: the correlation
            of predicted and observed log-PSD (EEG, all channels and
            frequencies) or FC (BOLD, upper triangle).

        Examples
        --------
        >>> from neurotwin.twin import Twin
        >>> Twin("01").score(None)
        Traceback (most recent call last):
        ...
        neurotwin.errors.ConfigError: the twin has no fitted state yet; call fit() first.
        """
        self._state(state)
        return self._objective(features)[0].score(self.theta(state))

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

    def changes(self, *, fdr: float = 0.05):
        """Changes against the baseline session (see :func:`longitudinal.changes`)."""
        return changes(self, fdr=fdr)

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
        con, params, kwargs = get_objective(self.modality).network(self.states_[state], self._connectome())
        return what_if(con, params, **{**kwargs, **changes_})

    def __repr__(self) -> str:
        return f"<Twin {self.subject} | {self.modality}, {len(self.states_)} state(s)>"
