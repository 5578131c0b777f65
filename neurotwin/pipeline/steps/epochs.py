"""Segmentation into fixed-length epochs with amplitude/annotation rejection (MNE)."""

from __future__ import annotations

from typing import ClassVar, Literal

import mne
from pydantic import Field, model_validator

from ..._logging import logger
from ...errors import DataError
from ._base import Step


class Epochs(Step):
    """Cut the recording into fixed-length epochs and drop the bad ones.

    Epochs overlapping a ``BAD_*`` annotation are dropped (blinks and other
    non-bad annotations are kept), then those whose peak-to-peak amplitude
    exceeds ``reject`` (or is below ``flat``) on any good channel.

    Parameters
    ----------
    length : float
        Epoch length in seconds.
    overlap : float
        Overlap between consecutive epochs in seconds.
    reject_eeg, reject_mag, reject_grad : float | None
        Peak-to-peak limits: EEG in µV, magnetometers in fT, gradiometers
        in fT/cm. None: no limit.
    flat_eeg : float | None
        Minimal EEG peak-to-peak in µV.
    min_epochs : int
        Fewer surviving epochs is an error (the recording is unusable).

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import Epochs
    >>> log = {}
    >>> epochs = Epochs(length=2.0).apply(make_resting_eeg(duration=20, random_state=0), log)
    >>> log["n_total"], len(epochs) == log["n_kept"]
    (10, True)
    """

    step: Literal["epochs"] = "epochs"
    accepts: ClassVar[tuple[str, ...]] = ("raw",)
    produces: ClassVar[str | None] = "epochs"
    out_suffix: ClassVar[str | None] = "epo"
    length: float = Field(2.0, gt=0)
    overlap: float = Field(0.0, ge=0)
    reject_eeg: float | None = Field(150.0, gt=0)
    reject_mag: float | None = Field(4000.0, gt=0)
    reject_grad: float | None = Field(4000.0, gt=0)
    flat_eeg: float | None = Field(0.5, ge=0)
    min_epochs: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _overlap(self):
        if self.overlap >= self.length:
            raise ValueError(f"overlap ({self.overlap}) must be shorter than length ({self.length})")
        return self

    def apply(self, raw, log=None):
        types = set(raw.get_channel_types(picks="data", unique=True))
        reject = {}
        if "eeg" in types and self.reject_eeg:
            reject["eeg"] = self.reject_eeg * 1e-6
        if "mag" in types and self.reject_mag:
            reject["mag"] = self.reject_mag * 1e-15
        if "grad" in types and self.reject_grad:
            reject["grad"] = self.reject_grad * 1e-13
        flat = {"eeg": self.flat_eeg * 1e-6} if "eeg" in types and self.flat_eeg else None
        if raw.times[-1] < self.length:
            raise DataError(f"epochs: the recording ({raw.times[-1]:.1f} s) is shorter than one "
                            f"{self.length} s epoch.")
        n_total = len(mne.make_fixed_length_events(raw, duration=self.length, overlap=self.overlap))
        epochs = mne.make_fixed_length_epochs(raw, duration=self.length, overlap=self.overlap, preload=True,
                                              reject_by_annotation=True, id=1, verbose="error")
        n_annot = n_total - len(epochs)
        epochs.drop_bad(reject=reject or None, flat=flat, verbose="error")
        n_kept = len(epochs)
        logger.info("epochs: kept %d of %d (%d on BAD annotations, %d by amplitude)", n_kept, n_total,
                    n_annot, n_total - n_annot - n_kept)
        if log is not None:
            log.update(n_total=n_total, n_kept=n_kept, n_bad_annotation=n_annot,
                       n_bad_amplitude=n_total - n_annot - n_kept, length=self.length)
        if n_kept < self.min_epochs:
            raise DataError(
                f"epochs: only {n_kept} of {n_total} epochs survive rejection (min_epochs="
                f"{self.min_epochs}); raise reject_eeg (now {self.reject_eeg} µV) or check the data."
            )
        return epochs
