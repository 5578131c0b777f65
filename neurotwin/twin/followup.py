"""A twin's follow-up: its parameters across sessions, changes, forecasts and what-if runs.

The methods :class:`~neurotwin.twin.Twin` offers over its history of states,
kept apart from fitting (``twin.py``); each hands over to the module that
does the work (:mod:`~neurotwin.twin.longitudinal`,
:mod:`~neurotwin.twin.volumes`, :mod:`neurotwin.model.whatif`).
"""

from __future__ import annotations

from .._docs import fill_doc
from ..errors import ConfigError
from .longitudinal import changes, forecast, trajectory
from .volumes import volume_table

__all__ = ["FollowUpMixin"]


class FollowUpMixin:
    """Follow-up methods of :class:`~neurotwin.twin.Twin` (it needs ``states_``, ``_objective_class``
    and ``_connectome``).

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> isinstance(Twin("01"), FollowUpMixin)
    True
    """

    def trajectory(self, name: str, level: float = 0.9):
        """One parameter across sessions: posterior median and central credible band per state.

        Parameters
        ----------
        name : str
            A parameter name (``"f"``; ``posterior.summary()`` lists them with their human names).
        level : float
            Credible level of the band.

        Returns
        -------
        table : pandas.DataFrame
            ``session, at, value, low, high`` (natural scale), one row per state.

        Examples
        --------
        >>> from neurotwin.twin import Twin
        >>> Twin("01").trajectory("f").empty
        True
        """
        return trajectory(self, name, level)

    def volumes(self, level: float = 0.9):
        """The regional volumes each state kept (its session's MRI), with their intervals.

        Parameters
        ----------
        level : float
            Level of the interval from each volume's measurement SE.

        Returns
        -------
        table : pandas.DataFrame
            ``session, at, location, value, se, low, high, unit``
            (:func:`~neurotwin.twin.volumes.volume_table`).

        Examples
        --------
        >>> from neurotwin.twin import Twin
        >>> Twin("01").volumes().empty
        True
        """
        return volume_table(self, level)

    def changes(self, *, fdr: float = 0.05):
        """Every later session against the first: which parameters and features changed, and how surely.

        Each session's own estimate of the followed parameters and its
        features (every channel and the mean spectrum) are compared with the
        first session's, against their measured standard errors and the
        between-session variability (the patient's own from 3 earlier
        sessions on, else the study's or the literature's); alerts control
        the false discovery rate per session (:func:`neurotwin.twin.changes`).

        Parameters
        ----------
        fdr : float
            False discovery rate of a session's alerts.

        Returns
        -------
        table : pandas.DataFrame
            One row per test (:data:`~neurotwin.twin.longitudinal.CHANGE_COLUMNS`), with the
            human ``label`` and ``unit``; ``flagged`` marks the alerts.

        Examples
        --------
        >>> from neurotwin.twin import Twin
        >>> Twin("01").changes().empty  # a twin needs two sessions to compare
        True
        """
        return changes(self, fdr=fdr)

    @fill_doc
    def forecast(self, at: float, *, level: float = 0.9, names=None):
        """What a session at day ``at`` would measure: parameters and features with predictive intervals.

        A trend needs 3 sessions on 2 or more days; before that the forecast
        is the current level (``basis`` says which), and a forecast outside
        the plausible range carries a ``note`` and a logged warning
        (:func:`neurotwin.twin.forecast`).

        Parameters
        ----------
        %(forecast_params)s

        Returns
        -------
        %(forecast_returns)s

        Examples
        --------
        >>> from neurotwin.twin import Twin
        >>> Twin("01").forecast(90.0)
        Traceback (most recent call last):
        ...
        neurotwin.errors.ConfigError: forecasting needs at least one fitted session.
        """
        return forecast(self, at, level=level, names=names)

    def what_if(self, state: int = -1, **changes_):
        """Run the twin's model with a change (lesion, coupling, parameters) against itself.

        Keyword arguments go to :func:`neurotwin.model.what_if`:
        ``lesion_regions`` disconnects regions (their connections cut; they
        keep oscillating, and with the diffusive coupling their own power
        rises), ``silence_regions`` clamps them to rest (connections kept;
        their power goes to zero), ``coupling_scale`` scales ``G`` and
        ``set_params`` changes the Hopf parameters. The baseline is this
        state's fitted network (per-region damping and frequency, coupling,
        conduction delays).

        Parameters
        ----------
        state : int
            Which state's network (default the last).
        **changes_
            The change, as above.

        Returns
        -------
        result : neurotwin.model.WhatIf
            Region PSDs and FC before and after; ``summary(band)`` per region.

        Examples
        --------
        >>> from neurotwin.twin import Twin
        >>> Twin("01").what_if(silence_regions=["rV1"])
        Traceback (most recent call last):
        ...
        neurotwin.errors.ConfigError: the twin has no fitted state yet.
        """
        from ..model.whatif import what_if

        if not self.states_:
            raise ConfigError("the twin has no fitted state yet.")
        con, params, kwargs = self._objective_class().network(self.states_[state], self._connectome())
        return what_if(con, params, **{**kwargs, **changes_})
