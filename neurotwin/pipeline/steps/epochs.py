"""Segmentation into fixed-length epochs with amplitude/annotation rejection.

MNE cuts and rejects; with ``"auto"`` limits, autoreject's
``get_rejection_threshold`` chooses the peak-to-peak limit of each channel
type by cross-validation on the recording itself (Jas et al. 2017): one
fixed µV limit does not fit every lab's amplifier, reference and montage
(150 µV drops every epoch of EEGBCI's eyes-closed run).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import mne
import numpy as np
from pydantic import Field, model_validator

from ..._logging import logger
from ...errors import DataError
from ._base import Step


def log_limits(reject: dict, limits: dict) -> str:
    """``"eeg 150 µV, mag 4000 fT"`` for messages."""
    units = {"eeg": "µV", "mag": "fT", "grad": "fT/cm"}
    return ", ".join(f"{t} {v / limits[t][1]:.0f} {units[t]}" for t, v in reject.items()) or "none"


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
    reject_eeg, reject_mag, reject_grad : float | "auto" | None
        Peak-to-peak limits: EEG in µV, magnetometers in fT, gradiometers
        in fT/cm; ``"auto"``: chosen by autoreject; None: no limit.
    random_state : int
        Seed of autoreject's cross-validation.
    auto_max_epochs : int
        autoreject learns the limits from at most this many evenly spaced
        epochs (its cost grows with the number of epochs, ~9 ms each; the
        limit of a long recording is learnt as well from a sample of it).
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
    reject_eeg: float | Literal["auto"] | None = "auto"
    reject_mag: float | Literal["auto"] | None = "auto"
    reject_grad: float | Literal["auto"] | None = "auto"
    random_state: int = 97
    auto_max_epochs: int = Field(100, ge=10)
    flat_eeg: float | None = Field(0.5, ge=0)
    min_epochs: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _overlap(self):
        for name in ("reject_eeg", "reject_mag", "reject_grad"):
            value = getattr(self, name)
            if isinstance(value, float) and value <= 0:
                raise ValueError(f"{name} must be positive, 'auto' or omitted")
        if self.overlap >= self.length:
            raise ValueError(f"overlap ({self.overlap}) must be shorter than length ({self.length})")
        return self

    def apply(self, raw, log=None):
        types = set(raw.get_channel_types(picks="data", unique=True))
        limits = {
            "eeg": (self.reject_eeg, 1e-6),
            "mag": (self.reject_mag, 1e-15),
            "grad": (self.reject_grad, 1e-13),
        }
        reject = {
            t: v * scale for t, (v, scale) in limits.items() if t in types and v is not None and v != "auto"
        }
        auto = [t for t, (v, _) in limits.items() if t in types and v == "auto"]
        flat = {"eeg": self.flat_eeg * 1e-6} if "eeg" in types and self.flat_eeg else None
        if raw.times[-1] < self.length:
            raise DataError(
                f"epochs: the recording ({raw.times[-1]:.1f} s) is shorter than one {self.length} s epoch."
            )
        n_total = len(mne.make_fixed_length_events(raw, duration=self.length, overlap=self.overlap))
        epochs = mne.make_fixed_length_epochs(
            raw,
            duration=self.length,
            overlap=self.overlap,
            preload=True,
            reject_by_annotation=True,
            id=1,
            verbose="error",
        )
        n_annot = n_total - len(epochs)
        if auto and len(epochs) >= 10:  # autoreject's cross-validation needs some epochs
            from autoreject import get_rejection_threshold

            sample = epochs
            if len(epochs) > self.auto_max_epochs:
                sample = epochs[np.linspace(0, len(epochs) - 1, self.auto_max_epochs).round().astype(int)]
            found = get_rejection_threshold(
                sample, ch_types=auto, random_state=self.random_state, verbose=False
            )
            reject.update({t: float(v) for t, v in found.items()})
        elif auto:
            logger.info("epochs: fewer than 10 epochs; no automatic amplitude limit.")
        epochs.drop_bad(reject=reject or None, flat=flat, verbose="error")
        n_kept = len(epochs)
        logger.info(
            "epochs: kept %d of %d (%d on BAD annotations, %d by amplitude)",
            n_kept,
            n_total,
            n_annot,
            n_total - n_annot - n_kept,
        )
        if log is not None:
            log.update(
                n_total=n_total,
                n_kept=n_kept,
                n_bad_annotation=n_annot,
                n_bad_amplitude=n_total - n_annot - n_kept,
                length=self.length,
                reject={t: round(v / limits[t][1], 3) for t, v in reject.items()},
            )
        if n_kept < self.min_epochs:
            raise DataError(
                f"epochs: only {n_kept} of {n_total} epochs survive rejection (min_epochs="
                f"{self.min_epochs}); raise the limits (now {log_limits(reject, limits)}) or check the data."
            )
        return epochs
