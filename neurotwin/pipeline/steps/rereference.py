"""Re-referencing of EEG (MNE's ``set_eeg_reference``)."""

from __future__ import annotations

from typing import Literal

from ...errors import ConfigError
from ._base import Step

_MASTOID_PAIRS = (("M1", "M2"), ("A1", "A2"), ("TP9", "TP10"))


class Rereference(Step):
    """Average, linked-mastoid or named-channel reference for EEG.

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
    ref: Literal["average", "mastoids"] | list[str] = "average"

    def apply(self, raw):
        if self.ref == "average":
            channels = "average"
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
        return raw
