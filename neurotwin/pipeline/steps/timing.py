"""Steps that change the time axis: crop and resample (MNE does the work)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...errors import ConfigError
from ._base import Step


class Crop(Step):
    """Keep ``tmin`` to ``tmax`` seconds (``tmax`` None: to the end).

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import Crop
    >>> raw = make_resting_eeg(duration=10, sfreq=256, random_state=0)
    >>> int(Crop(tmin=1, tmax=3).apply(raw).n_times)  # 2 s x 256 Hz
    512
    """

    step: Literal["crop"] = "crop"
    tmin: float = Field(0.0, ge=0)
    tmax: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if self.tmax is not None and self.tmax <= self.tmin:
            raise ValueError(f"tmax ({self.tmax}) must be greater than tmin ({self.tmin})")
        return self

    def apply(self, raw, log=None):
        end = raw.times[-1]
        if self.tmin == 0 and (self.tmax is None or self.tmax > end):
            if log is not None:
                log["unchanged"] = True
            return raw  # nothing to cut (MNE's crop would still copy the data)
        if self.tmin >= end:
            raise ConfigError(f"crop: tmin={self.tmin} s is past the end of the recording ({end:.1f} s).")
        if self.tmax is None or self.tmax > end:
            raw = raw.crop(self.tmin, None, verbose="error")  # to the last sample
        else:
            raw = raw.crop(self.tmin, self.tmax, include_tmax=False, verbose="error")
        if log is not None:  # what was kept, in the original recording's seconds
            log["kept"] = [float(self.tmin), round(float(self.tmin + raw.n_times / raw.info["sfreq"]), 3)]
        return raw


class Resample(Step):
    """Resample to ``sfreq`` Hz with anti-aliasing (MNE).

    ``method="polyphase"`` (default; SciPy's ``resample_poly``, no
    circular wrap-around at the ends and faster on long recordings) or
    ``"fft"``. With ``only_down`` (default), a recording already at or below
    ``sfreq`` is left as it is: upsampling adds no information, only cost.

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import Resample
    >>> Resample(sfreq=128).apply(make_resting_eeg(duration=4, random_state=0)).info["sfreq"]
    128.0
    """

    step: Literal["resample"] = "resample"
    sfreq: float = Field(..., gt=0)
    method: Literal["polyphase", "fft"] = "polyphase"
    only_down: bool = True

    def apply(self, raw, log=None):
        current = raw.info["sfreq"]
        if self.sfreq == current or (self.only_down and self.sfreq > current):
            if log is not None:
                log.update(unchanged=True, sfreq=float(current))
            return raw
        if log is not None:
            log.update(sfreq_from=float(current), sfreq=float(self.sfreq))
        return raw.resample(self.sfreq, method=self.method, verbose="error")
