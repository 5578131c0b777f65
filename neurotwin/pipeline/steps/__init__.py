"""Pipeline steps: one small module a step, registered by name.

A step is a pydantic model of its parameters (strict: unknown keys are
errors) with an ``apply(raw)`` method returning the processed recording.
Adding a step is one module plus one line in :data:`STEPS`.
"""

from __future__ import annotations

from .filters import Bandpass, Notch
from .rereference import Rereference
from .timing import Crop, Resample

#: step name -> parameters model (the model's ``apply`` does the work)
STEPS = {cls.model_fields["step"].default: cls for cls in (Crop, Notch, Bandpass, Resample, Rereference)}

__all__ = ["STEPS", "Bandpass", "Crop", "Notch", "Rereference", "Resample"]
