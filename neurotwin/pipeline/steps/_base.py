"""The base class of step parameter models."""

from __future__ import annotations

import types
import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ...errors import ConfigError

#: the kinds of data that flow between steps
KINDS = ("raw", "epochs", "image", "table", "timeseries", "features")


def _accepts_bool(annotation) -> bool:
    if annotation is bool or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts_bool(a) for a in typing.get_args(annotation))
    return origin is typing.Literal and any(isinstance(a, bool) for a in typing.get_args(annotation))


def _numeric(annotation) -> bool:
    if annotation in (int, float):
        return True
    return any(_numeric(a) for a in typing.get_args(annotation))


class StrictParams(BaseModel):
    """Pipeline-file parameters: no unknown keys, no infinite or NaN numbers, and no ``true``/``false``
    where a number or a word is meant (pydantic would read ``true`` as 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def __init__(self, **data):
        """Built in Python (``Bandpass(l_freq=1.0)``): a bad value is a ConfigError naming the parameter.

        (Pipeline files are validated as a whole and their errors name the file and line.)
        """
        try:
            super().__init__(**data)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'parameters'}: "
                f"{str(e['msg']).removeprefix('Value error, ')} (got {e.get('input')!r})"
                for e in err.errors()
            )
            raise ConfigError(f"{type(self).__name__}: {problems}.") from None

    # pydantic calls a model's own __init__ for nested models (a pipeline file's steps) unless it is
    # marked as the base one; marked, file validation keeps pydantic's errors (with their locations)
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, data):
        # a bool is handed on as text, so that the number field itself refuses it (and the error
        # names the key and its line)
        if isinstance(data, dict):
            data = dict(data)
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if (
                    isinstance(value, bool)
                    and field is not None
                    and _numeric(field.annotation)
                    and not _accepts_bool(field.annotation)
                ):
                    data[name] = f"{str(value).lower()} (true/false is not a number)"
        return data


class Step(StrictParams):
    """Parameters of one step; ``extra="forbid"`` rejects unknown keys.

    Subclasses set the ``step`` literal (the name used in pipeline files),
    the kinds of data they accept and produce, and ``apply``. ``version`` is
    part of every cache key: bump it when a change to ``apply`` changes
    results, so stale cached outputs are recomputed.
    """

    #: also write this step's result into the derivatives (the last step's always is)
    save: bool = False
    accepts: ClassVar[tuple[str, ...]] = ("raw",)
    produces: ClassVar[str | None] = None  # None: the kind it was given
    out_suffix: ClassVar[str | None] = None  # BIDS suffix of its output when it is the last step
    version: ClassVar[int] = 1

    def output_kind(self, kind: str) -> str:
        """The kind of data this step returns when given ``kind``."""
        return self.produces or kind

    def params(self) -> dict[str, Any]:
        """The parameters this step reads (what its cache key depends on)."""
        return self.model_dump(mode="json", exclude={"step", "save"})

    def find_inputs(self, path, subject: str, session: str | None, study) -> dict:
        """Files besides its data that this step reads, as ``{argument: path}``.

        They are passed to :meth:`apply` as keyword arguments and their
        content is part of the step's cache key.
        """
        return {}

    def apply(self, data, log: dict | None = None):  # pragma: no cover - every step overrides it
        """Process ``data``; record what was done (for reports) in ``log``.

        A step that leaves the data as they were sets ``log["unchanged"] = True``;
        the runner then caches a note instead of a copy of the data.
        """
        raise NotImplementedError
