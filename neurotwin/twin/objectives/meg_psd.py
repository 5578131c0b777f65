"""MEG spectral likelihood: the EEG objective's network and observation model seen by MEG sensors.

The network, its parameters and priors, the aperiodic background and the
Whittle likelihood are those of :mod:`.eeg_psd`; what differs is how the
sources reach the sensors:

* the lead field is MNE's MEG forward model (:func:`mne.make_forward_solution`)
  of the recording's own coils — their positions, orientations and types
  (magnetometers, planar or axial gradiometers: Neuromag/MEGIN, CTF, KIT,
  BTi alike) and the device-to-head transform, stored with the features
  (:mod:`neurotwin.features.sensors`) — for dipoles normal to TVB's
  template cortex. MEG is blind to radial dipoles in a spherical head, so
  the cortical surface is required, or, for another connectome, its
  regions' own mean cortical normals (``Connectome.orientations``, TVB's
  ``average_orientations``) for dipoles at their centres (radial ones
  there would see nothing);
* the head is a sphere fitted to the recording's digitised head points
  (for MEG only its origin matters: the field outside a spherically
  symmetric conductor does not depend on its radii; Sarvas 1987), else
  MNE's default origin 4 cm above the head frame's;
* there is no reference: every sensor's lead field is its own;
* each sensor type has its own unit: magnetometers measure T, planar
  gradiometers T/m. Each type's PSD and lead-field rows are divided by
  that type's typical amplitude (the root of its channels' median power in
  the fitted band) before the fit, so one set of gain and background
  levels (with each channel's offsets) serves every type — the per-type
  noise scaling, profiled out instead of fitted. The amplitudes are the
  first session's, kept in its state for the later sessions, so the
  parameters of every session are in one set of units (a louder session
  raises the gain and background). Predictions are returned in the
  recording's units.

Examples
--------
>>> from neurotwin.twin.objectives import OBJECTIVES
>>> OBJECTIVES["meg"].quality
'r_log_psd'
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError, DataError, NoPositionsError
from ...features.context import PSD_UNITS
from ...features.sensors import DEFAULT_SPHERE, meg_info, meg_types
from ...model.leadfield import cortical_leadfield, sphere_leadfield
from .base import optional_array, register_objective
from .eeg_inputs import centres_head, cortex_for
from .eeg_protocol import own_leadfield
from .eeg_psd import SpectrumObjective

__all__ = ["MegSpectrumObjective"]


def _geometry(features, chans: list[str]):
    """The MEG sensors' rows of ``meg_sensors``, ``dev_head_t`` and the head sphere (None if not fitted)."""
    meg = optional_array(features, "meg_sensors")
    trans = optional_array(features, "dev_head_t")
    if meg is None or trans is None:
        raise NoPositionsError(
            "these features carry no MEG sensor geometry (meg_sensors, dev_head_t); compute them "
            "from the recording itself (an MNE Raw/Epochs with its MEG channels) with this neurotwin."
        )
    names = list(meg.coords["channel"])
    geo = np.asarray(meg.values, float)[[names.index(c) for c in chans]]
    sphere = optional_array(features, "head_sphere")
    return geo, np.asarray(trans.values, float), None if sphere is None else np.asarray(sphere.values, float)


@register_objective
class MegSpectrumObjective(SpectrumObjective):
    """Negative log-likelihood of MEG sensor PSDs and its exact gradient (the ``meg`` objective).

    Takes the parameters of :class:`SpectrumObjective`; the lead field is
    not average-referenced. Built from features by :meth:`build`, which
    picks the PSD's MEG channels (magnetometers and gradiometers; EEG
    channels of the same recording are the ``eeg`` objective's).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.objectives import MegSpectrumObjective
    >>> w = np.array([[0, 1.0], [1.0, 0]])
    >>> lf = np.array([[1.0, 0.2], [0.3, 1.0], [0.5, 0.5]])
    >>> f = np.arange(1, 41, 0.5)
    >>> obj = MegSpectrumObjective(w, 60 * w, lf, f, np.ones((3, len(f))) / f, 50)
    >>> bool(np.allclose(obj.lf, lf))  # no reference
    True
    """

    modality = "meg"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("average_reference", False)
        super().__init__(*args, **kwargs)

    @classmethod
    def _channels(cls, features, every: list[str]) -> list[str]:
        """The PSD's magnetometers and gradiometers."""
        meg = optional_array(features, "meg_sensors")
        names = set(meg.coords["channel"]) if meg is not None else set()
        return [c for c in every if c in names]

    @classmethod
    def _sensor_key(cls, features, chans: list[str]) -> tuple[tuple, object]:
        geo, trans, sphere = _geometry(features, chans)
        key = (
            "meg-leadfield",
            tuple(chans),
            geo.tobytes(),
            trans.tobytes(),
            None if sphere is None else sphere.tobytes(),
        )
        return key, (geo, trans, sphere)

    @classmethod
    def _leadfield(cls, sensors, chans: list[str], con, twin) -> tuple[np.ndarray, str, str, dict | None]:
        geo, trans, sphere = sensors
        if sphere is None and np.allclose(trans, np.eye(4)):
            raise NoPositionsError(
                "where the head sits in the MEG helmet is unknown: the recording has no "
                "device-to-head transform and no digitised head points. Read it with its head "
                "position (e.g. read_raw_kit(..., mrk=, elp=, hsp=), or the CTF/FIF file's own "
                "HPI fit) before computing the features."
            )
        where, fitted = "recording (head sphere fitted to its head points)", sphere
        if sphere is None:
            sphere, where = np.asarray(DEFAULT_SPHERE), "recording (MNE's default head-sphere origin)"
        oriented = getattr(con, "orientations", None) is not None
        if twin.head == "centres" and not oriented:
            raise ConfigError(
                "an MEG twin at region centres needs the regions' orientations (a connectome with "
                "average_orientations): MEG does not see radial dipoles. Use head='auto' or 'cortex'."
            )
        info = meg_info(geo, chans, trans)
        if twin.anatomy is not None:  # the sphere fitted to the head points (if any) checks the transform
            gain, head, used = own_leadfield(info, con, twin, sphere=fitted)
            return gain, head, where, used
        # TVB's template cortex; else, with the regions' mean normals, dipoles at their centres
        cortex = None if twin.head == "centres" else cortex_for(con, "auto" if oriented else "cortex")
        try:
            if cortex is not None:
                gain, head = cortical_leadfield(info, cortex, con.labels, sphere=sphere).gain, cortex.name
            else:
                lf = sphere_leadfield(info, con.centres, con.labels, con.orientations, sphere=sphere)
                gain, head = lf.gain, centres_head(con)
        except RuntimeError as err:  # MNE: sensors inside the head, an implausible transform
            raise DataError(
                f"MNE's forward model refused the MEG sensor geometry ({err}); check the "
                f"recording's device-to-head transform."
            ) from err
        return gain, head, where, None

    @classmethod
    def _types(cls, features, chans) -> np.ndarray:
        """Each channel's MNE type (``mag`` or ``grad``) from its coil."""
        return np.array(meg_types(_geometry(features, chans)[0]))

    @classmethod
    def _unit(cls, features, chans, unit: str) -> str:
        types = sorted(set(cls._types(features, chans)))
        return ", ".join(f"{PSD_UNITS[t][1]} ({t})" for t in types)

    @classmethod
    def _si_factor(cls, features, chans, unit: str) -> np.ndarray:
        """The features' MEG PSD units in SI, per sensor type (fT²/Hz: 1e30 per T²/Hz, ...)."""
        return np.array([PSD_UNITS[t][0] for t in cls._types(features, chans)], float)

    @classmethod
    def _channel_scale(cls, features, chans, values, freqs) -> np.ndarray:
        """Each sensor type's typical amplitude (root of its channels' median power in 2-40 Hz)."""
        types = cls._types(features, chans)
        band = (freqs >= 2.0) & (freqs <= 40.0)
        if not band.any():
            raise DataError("the MEG PSD has no frequencies in 2-40 Hz.")
        scale = np.ones(len(chans))
        for kind in set(types):
            sel = types == kind
            scale[sel] = np.sqrt(np.median(values[sel][:, band]))
        if not (np.isfinite(scale).all() and (scale > 0).all()):
            raise DataError("an MEG sensor type has no power in 2-40 Hz (flat channels?); drop them.")
        return scale

    def sensor_csd(self, theta, freqs) -> np.ndarray:
        """The model's sensor CSD ``(F, C, C)`` in the recording's units (T², T²/m², T²/m)."""
        csd = super().sensor_csd(theta, freqs)
        scale = getattr(self, "channel_scale", None)
        return csd if scale is None else csd * np.outer(scale, scale)[None]

    def sensor_info(self, sfreq: float):
        """An MNE ``Info`` of the fitted MEG channels: their own coils and transform, and head points on
        the fitted head sphere (so the simulated recording has the same head)."""
        geo, trans, sphere = self.positions
        return meg_info(geo, self.channels, trans, sfreq=sfreq, sphere=sphere)
