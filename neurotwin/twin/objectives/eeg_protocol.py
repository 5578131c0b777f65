"""The spectrum objectives' side of the objective protocol: built from features, giving back predictions.

:class:`SpectrumProtocol` is mixed into :class:`~.eeg_psd.SpectrumObjective`
(and so the MEG one): how a FeatureSet becomes an objective (its channels,
their sensors' lead field, cached in the twin, and the PSD's units), and the
PSD, scores, diagnostics and network the twin asks of it. The sensor hooks
(``_channels``, ``_sensor_key``, ``_leadfield``, ``_unit``, ``_si_factor``,
``_channel_scale``) are what :mod:`.meg_psd` overrides.

Examples
--------
>>> from neurotwin.twin.objectives import SpectrumObjective
>>> from neurotwin.twin.objectives.eeg_protocol import SpectrumProtocol
>>> issubclass(SpectrumObjective, SpectrumProtocol)
True
"""

from __future__ import annotations

import numpy as np

from ...errors import DataError, NoPositionsError
from ...features.context import PSD_UNITS
from ...features.featureset import FeatureArray
from ...model.anatomy import Anatomy
from ...model.connectome import normalize_weights
from ...model.leadfield import cortical_leadfield, sphere_leadfield
from . import eeg_params as ep
from .base import digest, feature_array, optional_array
from .eeg_inputs import centres_head, cortex_for, eeg_info
from .eeg_inputs import positions as eeg_positions

__all__ = ["SpectrumProtocol"]


def _blocks(features, chans, freqs) -> FeatureArray | None:
    """The features' ``psd_blocks`` when they match the PSD's channels and frequencies."""
    arr = optional_array(features, "psd_blocks")
    if arr is None:
        return None
    if list(arr.coords["channel"]) != list(chans) or not np.allclose(arr.coords["freq"], freqs):
        return None
    return arr


def own_leadfield(info, con, twin, sphere=None) -> tuple[np.ndarray, str, dict]:
    """The lead field in the patient's own head (``twin.anatomy``) of TVB's template cortex, or of
    dipoles at the subject's own parcellation's centroids for another connectome: gain, the head
    model's name, and the anatomy's parts (:meth:`neurotwin.model.Anatomy.leadfield`)."""
    anatomy = Anatomy.from_dict(twin.anatomy)
    # TVB's template cortex when the connectome is the template's; else the subject's own parcellation
    cortex = None if twin.head == "centres" else cortex_for(con, "auto")
    lf, used = anatomy.leadfield(info, cortex, con.labels, sphere=sphere)
    sources = cortex.name if cortex is not None else "region centroids"
    return lf.gain, f"{sources} in {anatomy.subject}'s head ({used['head_model']})", used


class SpectrumProtocol:
    """Building a spectrum objective from features, and what it gives back (mixed into the objective)."""

    @classmethod
    def build(cls, features, connectome, twin):
        """The objective of a FeatureSet with a ``psd`` array (and ``channel_positions`` if recorded).

        Electrodes sit at the recording's positions, else at their standard
        10-05 names (:class:`~neurotwin.errors.NoPositionsError` otherwise);
        the lead field (cached in the twin for its channels) uses the
        template cortex when the connectome is TVB's 76-region one and
        ``twin.head`` allows it. MEG channels of a recording with both are
        left to the ``meg`` objective. The connectome's weights are scaled
        to a maximum of 1, as the twin scales them.
        """
        psd = feature_array(features, "psd")
        every, freqs = list(psd.coords["channel"]), np.asarray(psd.coords["freq"], float)
        settings = (features.provenance or {}).get("psd") or {}
        if "n_averages" not in settings:
            raise DataError(
                "the features do not record how many segments the PSD averages "
                "(provenance['psd']['n_averages']); recompute them with this neurotwin."
            )
        chans = cls._channels(features, every)
        if not chans:
            raise DataError(
                f"these features have no {cls.modality.upper()} channels (they have {every[:4]}...); "
                f"choose the twin's modality for the recording."
            )
        first = twin.states_[0] if twin.states_ else None
        if first is not None and chans != first.features["channels"]:
            raise DataError(
                f"these features have channels {chans[:4]}... but the twin was fitted to "
                f"{first.features['channels'][:4]}... (a different montage); refit a new twin "
                f"or pick the same channels."
            )
        con = normalize_weights(connectome, "max")  # as the twin passes it (a no-op then): callers alike
        if con.tract_lengths is None or con.centres is None:
            raise DataError(
                f"an {cls.modality.upper()} twin needs a connectome with tract lengths and centres."
            )
        key, sensors = cls._sensor_key(features, chans)
        if key not in twin._cache:
            # the last few sensor sets' lead fields (an EEG+MEG twin holds one of each kind)
            for old in list(twin._cache)[: max(0, len(twin._cache) - 3)]:
                del twin._cache[old]
            twin._cache[key] = cls._leadfield(sensors, chans, con, twin)
        gain, head, where, anatomy = twin._cache[key]
        if first is not None and first.features.get("head", head) != head:
            raise DataError(
                f"this twin was fitted with the head model {first.features['head']!r} but now "
                f"gets {head!r} (is tvb-data where it was?); refit a new twin or restore the "
                f"template files."
            )
        rows = [every.index(c) for c in chans]
        freqs, values, blocks_v, block_averages = cls._spectra(features, every, rows, freqs)
        scale = cls._channel_scale(features, chans, values, freqs)
        stored = first.features.get("channel_scale") if first is not None else None
        if scale is not None and stored is not None and len(stored) == len(chans):
            # every session in the first session's units, so a change of level between sessions stays
            # in the parameters (gain, background) instead of being divided out
            scale = np.asarray(stored, float)
        if scale is not None:  # each sensor type in its own units, so their levels are comparable
            values, gain = values / scale[:, None] ** 2, gain / scale[:, None]
            blocks_v = None if blocks_v is None else blocks_v / scale[None, :, None] ** 2
        obj = cls(
            con.weights,
            con.tract_lengths,
            gain,
            freqs,
            values,
            settings["n_averages"],
            channels=chans,
            regions=list(con.labels) if con.labels is not None else None,
            blocks=blocks_v,
            block_averages=block_averages,
        )
        obj.channel_scale = scale
        obj.si_factor = cls._si_factor(features, chans, psd.unit)
        obj.unit = cls._unit(features, chans, psd.unit)
        summary = {
            "channels": chans,
            "freqs": [float(freqs[0]), float(freqs[-1])],
            "grid": [float(x) for x in obj.freqs],
            "positions": where,
            "head": head,
            **({"anatomy": anatomy} if anatomy else {}),
            **({"channel_scale": [float(x) for x in scale]} if scale is not None else {}),
            "n_averages": float(settings["n_averages"]),
            "digest": digest(values),
        }
        table = features.table
        for feat in ("iaf", "aperiodic_exponent"):
            ok = (table["feature"] == feat) & (table["status"] == "ok") & table["location"].isin(chans)
            vals = table[ok]
            if len(vals):
                summary[feat] = float(np.median(vals["value"]))
        obj.summary = summary
        obj.positions = sensors
        return obj

    @classmethod
    def _spectra(cls, features, every: list[str], rows: list[int], freqs: np.ndarray):
        """The fitted spectra of the modelled channels (``rows`` of ``every``): ``(freqs, values,
        blocks, block_averages)``, here the PSD ``(C, F)`` and its blocks (the CSD objective: the CSD)."""
        values = np.asarray(feature_array(features, "psd").values, float)[rows]
        blocks = _blocks(features, every, freqs)
        if blocks is None:
            return freqs, values, None, None
        return freqs, values, np.asarray(blocks.values, float)[:, rows], blocks.coords["block"]

    # ------------------------------------------------------------------ the sensors (MEG overrides)
    @classmethod
    def _channels(cls, features, every: list[str]) -> list[str]:
        """The PSD's channels this objective models: all but MEG sensors."""
        meg = optional_array(features, "meg_sensors")
        skip = set(meg.coords["channel"]) if meg is not None else set()
        return [c for c in every if c not in skip]

    @classmethod
    def _sensor_key(cls, features, chans: list[str]) -> tuple[tuple, object]:
        """A key of the sensors' geometry (for the lead-field cache) and the geometry itself."""
        positions = eeg_positions(features, chans)
        return ("leadfield", tuple(chans), None if positions is None else positions.tobytes()), positions

    @classmethod
    def _leadfield(cls, positions, chans: list[str], con, twin) -> tuple[np.ndarray, str, str, dict | None]:
        """The lead field ``(C, N)``, the head model's name, where the sensors' positions came from, and
        the patient's own anatomy's parts (None: the template head)."""
        if twin.anatomy is not None:
            if positions is None:
                raise NoPositionsError(
                    "a twin in the patient's own head needs the recording's own electrode positions "
                    "(the template 10-05 ones are not where this person's electrodes were); "
                    "compute the features from a recording with its digitisation."
                )
            gain, head, used = own_leadfield(eeg_info(chans, positions), con, twin)
            return gain, head, "recording", used
        info = eeg_info(chans, positions)
        cortex = cortex_for(con, twin.head)
        lf = (
            cortical_leadfield(info, cortex, con.labels)
            if cortex is not None
            else sphere_leadfield(info, con.centres, con.labels, con.orientations)
        )
        head = cortex.name if cortex is not None else centres_head(con)
        return lf.gain, head, "recording" if positions is not None else "template 10-05", None

    @classmethod
    def _unit(cls, features, chans, unit: str) -> str:
        """The unit of the PSD this objective predicts (the features')."""
        return unit or "data"

    @classmethod
    def _si_factor(cls, features, chans, unit: str) -> np.ndarray:
        """Per channel, the PSD's unit in SI (the features' µV²/Hz: 1e12 per V²/Hz; 1 when unknown)."""
        factor = next((f for f, u in PSD_UNITS.values() if u == unit), 1.0)
        return np.full(len(chans), float(factor))

    @classmethod
    def _channel_scale(cls, features, chans, values, freqs) -> np.ndarray | None:
        """Per channel, a unit the PSD and lead field are divided by (None: EEG's volts for all)."""
        return None

    def _array(self, values) -> FeatureArray:
        return FeatureArray(
            values,
            ("channel", "freq"),
            {"channel": list(self.channels), "freq": [float(x) for x in self.freqs]},
            unit=getattr(self, "unit", "data"),
        )

    def _units(self, values: np.ndarray) -> np.ndarray:
        """A PSD ``(C, F)`` back in the recording's units (undoing :meth:`_channel_scale`)."""
        scale = getattr(self, "channel_scale", None)
        return values if scale is None else values * scale[:, None] ** 2

    @property
    def n_values(self) -> int:
        """The number of modelled values (PSD bins of every channel)."""
        return int(self.psd.size)

    def predict(self, theta) -> FeatureArray:
        """The model's sensor PSD ``(channel, freq)`` on the fitted grid (the recording's units)."""
        return self._array(self._units(self.model_psd(theta)))

    def observed(self) -> FeatureArray:
        """The session's PSD on the fitted grid (bins averaged, mains left out)."""
        return self._array(self._units(self.psd))

    def score(self, theta) -> dict:
        """Whittle log-likelihood per value (unweighted) and r of model and data log-PSD."""
        model = self.model_psd(theta)
        nll = float(np.sum(np.log(model) + self.psd / model))
        r = float(np.corrcoef(np.log(model).ravel(), np.log(self.psd).ravel())[0, 1])
        return {"loglik": -nll / self.psd.size, "r": r}

    def diagnostics(self, theta, posterior, prior) -> dict:
        """Fit quality, the model's alpha peak (and its distance to the IAF), identified regions."""
        diag = {self.quality: self.score(theta)["r"], "warnings": []}
        fine = np.arange(7.0, 14.0001, 0.05)  # the network's alpha peak on a fine grid
        peak = float(fine[np.argmax(self.spectrum(theta, fine, part="network").mean(axis=0))])
        diag["model_iaf"] = peak
        if "iaf" in self.summary:
            diag["iaf_error"] = peak - self.summary["iaf"]
            if abs(diag["iaf_error"]) > 1.0:
                diag["warnings"].append(
                    f"the model's alpha peak ({peak:.2f} Hz) is {abs(diag['iaf_error']):.1f} Hz from the "
                    f"recording's IAF ({self.summary['iaf']:.2f} Hz): the twin does not reproduce this "
                    f"person's alpha rhythm"
                )
        if self.regional:
            # regions the data inform: posterior sd of the frequency offset under half the prior's
            idx = np.arange(self.n_params)[self._reg["f_offset"]]
            ratio = posterior.sd[idx] / np.asarray(prior.sd)[idx]
            diag["identified_regions"] = [self.regions[i] for i in np.flatnonzero(ratio < 0.5)]
        return diag

    @staticmethod
    def network(state, connectome) -> tuple:
        """The fitted network of a state: the connectome, per-region Hopf parameters and the velocity."""
        params, velocity = ep.hopf_from_posterior(state.posterior, connectome.labels)
        return connectome, params, {"conduction_velocity": velocity}
