"""The per-patient twin: fit to a first session, updated by later ones, append-only."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from .._logging import logger, verbose
from ..errors import ConfigError, DataError
from ..features.featureset import FeatureSet
from ..io.connectome import Connectome
from ..model.anatomy import Anatomy
from ..model.connectome import normalize_weights, template_connectome
from .fitting import fit_state
from .followup import FollowUpMixin
from .inference import Prior, from_unconstrained
from .objectives import OBJECTIVES, get_objective
from .population import PopulationPrior
from .state import TwinState
from .variability import Variability

__all__ = ["Twin"]

#: default smallest change worth flagging per modality, natural units (identity params) or log-ratio
CHANGE_THRESHOLDS = {m: dict(cls.change_thresholds) for m, cls in OBJECTIVES.items()}


class Twin(FollowUpMixin, BaseEstimator):
    """A neurological digital twin of one patient.

    Its settings are scikit-learn parameters (``get_params``/``set_params``,
    what :class:`~neurotwin.twin.TwinStore` keeps); the fitted states are
    ``states_``.

    Parameters
    ----------
    subject : str
        The patient's (pseudonymous) label.
    modality : "eeg" | "meg" | "bold" | "eeg+meg" | "eeg+bold" | "meg+bold" | "eeg+meg+bold"
        What the twin is fitted to: EEG or MEG sensor PSDs (MEG:
        magnetometers and gradiometers through their own coils,
        :mod:`neurotwin.twin.objectives.meg_psd`), both of them seen from one
        network (``"eeg+meg"``: :mod:`neurotwin.twin.objectives.sensors`),
        BOLD functional connectivity, or sensors and BOLD in one model
        (``"eeg+bold"``: the sessions' FeatureSets of either or both, joined
        with :func:`neurotwin.features.concat`; the first needs both; the
        shared quantities: :mod:`neurotwin.twin.objectives.joint`).
    connectome : Connectome | None
        The patient's own connectome; None takes TVB's 76-region template
        for EEG and MEG (needs the ``tvb`` extra). BOLD needs the patient's (its
        labels must be the FC's regions).
    effective_connectivity : bool
        BOLD: fit a log-modifier per connection (shrunk to the connectome).
    process_noise : float
        Random-walk variance per day of every parameter (unconstrained
        scale) between sessions: how much the brain may drift unremarked.
    change_thresholds : dict | None
        The smallest change worth flagging per parameter (its natural
        unit; e.g. ``{"f": 0.5}``), over the objective's defaults (the
        merged table is :attr:`thresholds`).
    head : "auto" | "cortex" | "centres"
        EEG head model (MEG always takes the cortex): dipoles normal to the template cortex (TVB's
        16k-vertex surface, summed per region; needs the 76-region
        template), or one radial dipole at each region centre; ``auto``
        takes the cortex when the connectome has one. Both in a
        three-shell sphere fitted to the electrodes.
    anatomy : Anatomy | dict | None
        EEG and MEG: the patient's own head (:class:`~neurotwin.model.Anatomy`:
        a FreeSurfer folder and the head-to-MRI transform; its ``to_dict()``
        is kept): the cortex goes into the patient's own inner skull, and
        the forward model is the patient's BEM when ``bem/`` has a suitable
        one (:mod:`neurotwin.model.anatomy`). The transform is checked
        against each recording. None: the template head.
    likelihood : None | "csd"
        None: the modality's own likelihood (EEG and MEG: the Whittle
        likelihood of each channel's PSD, its channels' redundancy weighed
        by their effective number). ``"csd"`` (EEG): the complex-Wishart
        likelihood of the whole sensor cross-spectrum, which models the
        channels' correlations exactly; the features need the ``csd``
        feature (:mod:`neurotwin.twin.objectives.eeg_csd`).
    variability : dict | None
        The population's between-session SDs (``Variability.to_dict()``, e.g.
        a study's :func:`~neurotwin.twin.variability.estimate_variability`);
        None: a twin store's study estimate (``study_variability_``), else
        the built-in defaults (:mod:`neurotwin.twin.variability`).
        Change detection uses them until the twin has its own history.
    population : PopulationPrior | dict | None
        BOLD (and the BOLD part of a joint twin): other people's FC as a
        prior (:meth:`PopulationPrior.from_features`; its ``to_dict()`` is
        kept). The first fit is made to the session's FC shrunk towards
        the population's as far as their reliabilities say
        (:mod:`neurotwin.twin.population`); None: the session's FC alone.
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
    study_variability_ : dict | None
        The between-session SDs of the study's other twins, set by
        :meth:`TwinStore.load <neurotwin.twin.TwinStore.load>` (never stored with the twin:
        the study's estimate changes as twins are added); used where
        ``variability`` is None.

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> twin = Twin("01", modality="eeg")
    >>> twin.states_
    []
    """

    def __init__(
        self,
        subject: str,
        *,
        modality: str = "eeg",
        connectome: Connectome | None = None,
        effective_connectivity: bool = True,
        process_noise: float = 2.5e-4,
        restarts: int = 0,
        change_thresholds: dict | None = None,
        head: str = "auto",
        anatomy: Anatomy | dict | None = None,
        variability: dict | None = None,
        likelihood: str | None = None,
        population: PopulationPrior | dict | None = None,
        random_state: int | None = 0,
    ):
        get_objective(modality, likelihood)  # a known modality and likelihood (the error names them)
        if not np.isfinite(process_noise) or process_noise < 0:
            raise ConfigError(f"process_noise must be >= 0, got {process_noise!r}.")
        self.subject = str(subject)
        self.modality = modality
        self.likelihood = likelihood
        self.connectome = connectome
        self.effective_connectivity = effective_connectivity
        self.process_noise = float(process_noise)
        self.restarts = int(restarts)
        # settings are kept as given (scikit-learn's contract: ``clone`` and ``set_params`` rely on it)
        # and checked here; what is derived from them is computed where it is used (``thresholds``)
        if change_thresholds is not None and not isinstance(change_thresholds, dict):
            raise ConfigError(f"change_thresholds must be a dict, got {type(change_thresholds).__name__}.")
        self.change_thresholds = change_thresholds
        self.random_state = random_state
        if head not in ("auto", "cortex", "centres"):
            raise ConfigError(f"head must be 'auto', 'cortex' or 'centres', got {head!r}.")
        self.head = head
        if anatomy is not None:
            Anatomy.from_dict(anatomy)
            if not {"eeg", "meg"} & set(modality.split("+")):
                raise ConfigError(f"anatomy= is for EEG and MEG twins; a {modality} twin has no head model.")
        self.anatomy = anatomy
        if variability:
            Variability.from_dict(variability)
        self.variability = variability
        PopulationPrior.setting(population, get_objective(modality, likelihood).parts)
        self.population = population
        self.states_: list[TwinState] = []
        self.study_variability_: dict | None = None
        self._cache: dict = {}  # what objectives reuse across sessions (the lead field), in memory only
        self._fitted: dict[int, object] = {}  # state index -> its objective (in memory only)

    # ------------------------------------------------------------------ set-up
    @property
    def thresholds(self) -> dict[str, float]:
        """The smallest change worth flagging per parameter: the objective's defaults with
        ``change_thresholds`` over them."""
        return {**self._objective_class().change_thresholds, **(self.change_thresholds or {})}

    def settings(self) -> dict:
        """The settings as JSON-ready values (what the store keeps): :meth:`get_params` without the
        subject's label and the connectome, the population prior, anatomy and variability as dicts."""
        out = {k: v for k, v in self.get_params().items() if k not in ("subject", "connectome")}
        out["population"] = PopulationPrior.setting(self.population, self._objective_class().parts)
        out["anatomy"] = None if self.anatomy is None else Anatomy.from_dict(self.anatomy).to_dict()
        out["variability"] = Variability.from_dict(self.variability).to_dict() if self.variability else None
        return out

    def _objective_class(self) -> type:
        """The objective of the twin's modality and likelihood."""
        return get_objective(self.modality, self.likelihood)

    def _connectome(self) -> Connectome:
        if self.connectome is None:
            template = self._objective_class().template
            if template is None:
                raise ConfigError(
                    f"the {self.modality} twin needs the patient's connectome (connectome=...): "
                    f"its regions must be the features'."
                )
            self.connectome = template_connectome(template)
        return normalize_weights(self.connectome, "max")

    def _objective(self, features: FeatureSet):
        """The objective of a session's features: ``(objective, summary)``."""
        if not isinstance(features, FeatureSet):
            raise DataError(f"a twin is fitted to a FeatureSet, not {type(features).__name__}.")
        obj = self._objective_class().build(features, self._connectome(), self)
        return obj, obj.summary

    # ------------------------------------------------------------------ fitting
    def _fit_state(self, features, session, at, prior: Prior, extra_mean, restarts) -> TwinState:
        obj, summary = self._objective(features)
        state = fit_state(self, obj, summary, features, session, at, prior, extra_mean, restarts)
        self._fitted[len(self.states_)] = obj
        return state

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
        logger.info(
            "twin %s fitted to session %s (%s)", self.subject, session, self._quality(self.states_[-1])
        )
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
            raise DataError(
                f"session {session!r} at day {at} is before the last state ({last.session!r}, "
                f"day {last.at}); add sessions in time order."
            )
        if session in {s.session for s in self.states_}:
            raise DataError(f"session {session!r} is already in this twin.")
        post = last.posterior
        # the random walk between sessions (a joint twin's offsets between modalities do not drift)
        drift = self.process_noise * (at - last.at) * self._objective_class().drift_scale(post.names)
        prior = Prior(
            post.names,
            post.transforms,
            np.array(post.mean),
            np.sqrt(np.diag(post.cov) + drift),
            cov=np.array(post.cov) + np.diag(drift),
            labels=post.labels,
            units=post.units,
        )
        state = self._fit_state(features, session, at, prior, post.extra.get("theta_extra"), 0)
        state.diagnostics["gap_days"] = float(at - last.at)
        if at == last.at:
            logger.info(
                "twin %s: session %s has a 0-day gap after %s (same day or unknown time)",
                self.subject,
                session,
                last.session,
            )
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
        quality = self._objective_class().quality
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
            raise ConfigError(
                "pass the session's features (predict(features)): the twin keeps its "
                "parameters, not the recording's channels and their positions."
            )
        return obj.predict(self.theta(state))

    def simulate(
        self,
        duration: float = 60.0,
        *,
        features: FeatureSet | None = None,
        sfreq: float = 250.0,
        state: int = -1,
        random_state=None,
    ):
        """A recording of the patient as the twin models it: sensor EEG on the patient's channels.

        The draw is a Gaussian process with the model's sensor cross-spectrum
        at the state's parameters (the network seen through the lead field
        and each channel's gain, plus its aperiodic and beta background;
        :func:`neurotwin.model.synthesis.gaussian_from_csd`): its spectra and
        coherences are the twin's, delays included. The data are average-
        referenced, as the fitted features.

        Parameters
        ----------
        duration : float
            Seconds to simulate.
        features : FeatureSet | None
            A session's features, for the channels and their positions; None
            takes the ones the state was fitted to (while the twin is in memory).
        sfreq : float
            Sampling rate of the result in Hz.
        state : int
            Which state's parameters (default the last).
        random_state : int | numpy.random.Generator | None
            Seed (default: the twin's ``random_state``).

        Returns
        -------
        raw : mne.io.RawArray
            EEG channels in V with the recording's (or the template 10-05)
            positions; MEG channels in T and T/m with the recording's coils.

        Examples
        --------
        >>> from neurotwin.twin import Twin
        >>> Twin("01").simulate(10.0)
        Traceback (most recent call last):
        ...
        neurotwin.errors.ConfigError: the twin has no fitted state yet; call fit() first.
        """
        import mne

        from ..model.synthesis import gaussian_from_csd

        st = self._state(state)
        if not duration > 0 or not sfreq > 0:
            raise ConfigError(f"duration and sfreq must be > 0, got {duration!r} and {sfreq!r}.")
        obj = self._objective(features)[0] if features is not None else self._fitted.get(st.index)
        if obj is None:
            raise ConfigError(
                "pass the session's features (simulate(features=...)): the twin keeps its "
                "parameters, not the recording's channels and their positions."
            )
        if not hasattr(obj, "sensor_csd"):
            raise ConfigError(
                f"the {self.modality} twin models no sensors to simulate; use what_if() or "
                f"neurotwin.model.simulate for its network."
            )
        grid = np.linspace(0.0, sfreq / 2, int(np.ceil(sfreq / 2 / 0.25)) + 1)  # 0.25 Hz, interpolated
        csd = obj.sensor_csd(self.theta(state), grid[1:])  # (the mean, at 0 Hz, is not drawn)
        csd = np.concatenate([csd[:1], csd])
        si = getattr(obj, "si_factor", None)  # the features' display units (µV²/Hz, fT²/Hz) to SI
        if si is not None:
            csd = csd / np.sqrt(np.outer(si, si))[None]
        seed = self.random_state if random_state is None else random_state
        data = gaussian_from_csd(csd, grid, int(round(duration * sfreq)), sfreq, random_state=seed)
        return mne.io.RawArray(data, obj.sensor_info(sfreq), verbose="error")

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

    def __repr__(self) -> str:
        return f"<Twin {self.subject} | {self.modality}, {len(self.states_)} state(s)>"
