"""Pipeline steps: one small module a step, registered by name.

A step is a pydantic model of its parameters (strict: unknown keys are
errors) with an ``apply(data, log)`` method returning the processed data.
Adding a step is one module plus one entry in :data:`STEPS`.
"""

from __future__ import annotations

from ._base import KINDS, Step
from .bads import DetectBads, Interpolate, find_bad_channels
from .epochs import Epochs
from .features import Features
from .filters import Bandpass, Notch, detect_line_freq
from .ica import ICA
from .mri import Parcellate, RegionalVolumes, RegressConfounds, Reorient, label_names
from .rereference import Rereference
from .timing import Crop, Resample

_ALL = (
    Crop,
    Notch,
    Bandpass,
    Resample,
    DetectBads,
    Interpolate,
    ICA,
    Rereference,
    Epochs,
    Features,
    Reorient,
    RegionalVolumes,
    Parcellate,
    RegressConfounds,
)

#: step name -> parameters model (the model's ``apply`` does the work)
STEPS: dict[str, type[Step]] = {cls.model_fields["step"].default: cls for cls in _ALL}

__all__ = [
    "ICA",
    "KINDS",
    "STEPS",
    "Bandpass",
    "Crop",
    "DetectBads",
    "Epochs",
    "Features",
    "Interpolate",
    "Notch",
    "Parcellate",
    "RegionalVolumes",
    "RegressConfounds",
    "Reorient",
    "Rereference",
    "Resample",
    "Step",
    "detect_line_freq",
    "find_bad_channels",
    "label_names",
]
