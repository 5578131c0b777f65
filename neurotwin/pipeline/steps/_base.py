"""The base class of step parameter models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Step(BaseModel):
    """Parameters of one step; ``extra="forbid"`` rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def apply(self, raw):  # pragma: no cover - every step overrides it
        raise NotImplementedError
