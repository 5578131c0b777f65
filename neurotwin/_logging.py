"""The package logger and the ``verbose=`` argument.

One named logger, ``logging.getLogger("neurotwin")``; library code never
prints and never calls the root logger. Public functions take ``verbose``
(``None``, a bool, or a level name/number) and the :func:`verbose` decorator
sets the level for the duration of the call only.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

logger = logging.getLogger("neurotwin")
logger.addHandler(logging.NullHandler())

_F = TypeVar("_F", bound=Callable[..., Any])

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _to_level(verbose: bool | int | str | None) -> int | None:
    """Translate a ``verbose`` value into a logging level (None: unchanged)."""
    if verbose is None:
        return None
    if isinstance(verbose, bool):
        return logging.INFO if verbose else logging.WARNING
    if isinstance(verbose, int):
        return verbose
    if isinstance(verbose, str) and verbose.lower() in _LEVELS:
        return _LEVELS[verbose.lower()]
    from .errors import ConfigError

    raise ConfigError(f"verbose must be None, a bool, an int or one of {sorted(_LEVELS)}; got {verbose!r}.")


def set_log_level(verbose: bool | int | str | None = "info") -> None:
    """Set the level of the ``neurotwin`` logger.

    Parameters
    ----------
    verbose : bool | int | str | None
        ``True``/``"info"`` shows progress messages, ``False``/``"warning"``
        only problems, ``"debug"`` everything. ``None`` leaves it unchanged.

    Examples
    --------
    >>> import neurotwin
    >>> neurotwin.set_log_level("warning")
    """
    level = _to_level(verbose)
    if level is not None:
        logger.setLevel(level)


@contextlib.contextmanager
def use_log_level(verbose: bool | int | str | None) -> Iterator[None]:
    """Temporarily set the ``neurotwin`` log level inside a ``with`` block."""
    level = _to_level(verbose)
    if level is None:
        yield
        return
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


def verbose(func: _F) -> _F:
    """Decorate a function taking ``verbose=`` so it sets the log level."""
    sig = inspect.signature(func)
    if "verbose" not in sig.parameters:  # pragma: no cover - programming error
        raise TypeError(f"{func.__qualname__} has no 'verbose' parameter")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind_partial(*args, **kwargs)
        with use_log_level(bound.arguments.get("verbose")):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def mne_verbose() -> str:
    """Verbosity to pass to MNE calls: MNE speaks only when we are at debug."""
    return "info" if logger.getEffectiveLevel() <= logging.DEBUG else "error"
