"""Re-referencing of EEG (MNE's ``set_eeg_reference``).

``ref="rest"`` is the Reference Electrode Standardization Technique (Yao
2001) as MNE implements it; the forward model it needs is built offline
from a spherical head fitted to the channel positions and a 15 mm volume
grid of dipoles (as in MNE's example), so nothing is downloaded.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ...errors import ConfigError, DataError
from ._base import Step

_MASTOID_PAIRS = (("M1", "M2"), ("A1", "A2"), ("TP9", "TP10"))


def _sphere_forward(info):
    """EEG forward solution of a fitted sphere with a 15 mm dipole grid."""
    import mne

    eeg = mne.pick_types(info, eeg=True, exclude=[])
    pos = np.array([info["chs"][i]["loc"][:3] for i in eeg])
    if not np.isfinite(pos).all() or np.allclose(pos, 0):
        raise DataError("rereference: ref='rest' needs EEG channel positions; set a montage first.")
    eeg_info = mne.pick_info(info, eeg)
    with eeg_info._unlock():
        eeg_info["bads"] = []
    sphere = mne.make_sphere_model("auto", "auto", eeg_info, verbose="error")
    src = mne.setup_volume_source_space(sphere=sphere, exclude=30.0, pos=15.0, verbose="error")
    return mne.make_forward_solution(
        eeg_info, trans=None, src=src, bem=sphere, eeg=True, meg=False, verbose="error"
    )


class Rereference(Step):
    """Average, REST, linked-mastoid or named-channel reference for EEG.

    ``ref="mastoids"`` uses the first pair present of M1/M2, A1/A2, TP9/TP10.

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import Rereference
    >>> raw = Rereference(ref="average").apply(make_resting_eeg(duration=4, random_state=0))
    >>> bool(abs(raw.get_data(picks="eeg").mean(axis=0)).max() < 1e-12)
    True
    """

    step: Literal["rereference"] = "rereference"
    ref: Literal["average", "rest", "mastoids"] | list[str] = "average"

    def apply(self, raw, log=None):
        if self.ref == "average":
            channels = "average"
        elif self.ref == "rest":
            raw.set_eeg_reference("REST", forward=_sphere_forward(raw.info), verbose="error")
            if log is not None:
                log["ref"] = "REST"
            return raw
        elif self.ref == "mastoids":
            names = set(raw.ch_names)
            pair = next((p for p in _MASTOID_PAIRS if set(p) <= names), None)
            if pair is None:
                raise ConfigError(
                    "rereference: ref='mastoids' needs M1/M2, A1/A2 or TP9/TP10; none are in "
                    "this recording. Use ref='average' or name the channels."
                )
            channels = list(pair)
        else:
            missing = [c for c in self.ref if c not in raw.ch_names]
            if missing:
                raise ConfigError(f"rereference: channel(s) {missing} are not in this recording.")
            channels = list(self.ref)
        raw.set_eeg_reference(channels, projection=False, verbose="error")
        if log is not None:
            log["ref"] = channels
        return raw
