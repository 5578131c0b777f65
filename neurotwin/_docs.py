"""Docstring text shared between functions, written once (``fill_doc``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

_F = TypeVar("_F", bound=Callable)

docdict: dict[str, str] = {
    "verbose": """verbose : bool | str | int | None
    Log level for this call only (``True``/``"info"``, ``False``/``"warning"``,
    ``"debug"``). ``None`` keeps the level of the ``neurotwin`` logger.""",
    "random_state": """random_state : None | int | numpy.random.Generator
    Seed or generator; the only source of randomness (the global NumPy RNG
    is never touched). The same seed gives the same result.""",
    "deidentify": """deidentify : bool
    If True (default), remove everything that identifies the person: names,
    birth date, hospital IDs, device serials, and annotations that mention
    them; the recording date is shifted back by a private per-person offset
    (intervals between one person's sessions are kept). See
    :func:`neurotwin.io.deidentify_raw`.""",
    "kwargs_read_raw": """**kwargs
    As for :func:`neurotwin.io.read_raw`.""",
    "returns_raw": """raw : mne.io.Raw
    The recording.""",
    "forecast_params": """at : float
    Day to forecast (days since the first session; not before the last).
level : float
    Level of the predictive interval.
names : list of str | None
    Parameters to forecast (default: the global ones).""",
    "forecast_returns": """table : pandas.DataFrame
    ``kind, name, label, unit, at, value, low, high, basis, note``.""",
    "fname_raw": """fname : str | os.PathLike
    Path to the recording. The file type is taken from its extension
    (see :func:`neurotwin.io.supported_formats`).""",
}


def fill_doc(func: _F) -> _F:
    """Replace ``%(key)s`` in ``func.__doc__`` with ``docdict`` entries,
    indented to match the line on which the key stands."""
    doc = func.__doc__
    if not doc:
        return func
    lines = doc.splitlines()
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith("%(") and stripped.endswith(")s"):
            key = stripped[2:-2]
            indent = line[: len(line) - len(stripped)]
            text = docdict[key]
            out.extend(indent + t if t else t for t in text.splitlines())
        else:
            out.append(line)
    func.__doc__ = "\n".join(out)
    return func
