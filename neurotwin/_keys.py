"""The private de-identification key: where it lives, how it is found, how a store checks it.

One key makes a study's pseudonyms: the per-person date shift of the
recordings (:mod:`neurotwin.io.deidentify`) and the ids of the twins in the
store (:mod:`neurotwin.twin.store`, an HMAC of the subject label). The key
is found, in this order:

1. the ``secret`` a caller passes;
2. the environment variable ``NEUROTWIN_DEID_KEY``;
3. the study's key file, ``OUT/.neurotwin/deid.key`` next to the
   derivatives (mode 0600), made by the first ``neurotwin run`` into ``OUT``;
4. the user's key file, ``$XDG_CONFIG_HOME/neurotwin/deid.key`` (or
   ``~/.config/...``), made on first use; used outside a study (e.g.
   ``read_raw`` in a notebook).

The study's key travels with its derivatives, so the store reads by
subject label on another account, machine or cluster node that can read
the key file; whoever cannot, gets an error saying that the key differs
(a store records a check value of its key, never the key) and how to pass
it. The key never reaches a derivative, the store or a report; the key file
must stay out of derivatives that are published (with it, the date shifts
could be undone), which is why it lives in ``OUT/.neurotwin`` (in
``.bidsignore``).

This module imports nothing of neurotwin's but the errors, so any layer
may use it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .errors import ConfigError

__all__ = ["KEY_ENV", "deid_key", "ensure_study_key", "key_check", "key_source", "study_key_path"]

KEY_ENV = "NEUROTWIN_DEID_KEY"
_STUDY_KEY = Path(".neurotwin") / "deid.key"


def user_key_path() -> Path:
    """The user's key file (``$XDG_CONFIG_HOME/neurotwin/deid.key``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "neurotwin" / "deid.key"


def study_key_path(out_dir: str | os.PathLike) -> Path:
    """The study's key file in a derivatives folder: ``OUT/.neurotwin/deid.key``.

    Examples
    --------
    >>> study_key_path("derivatives").as_posix()
    'derivatives/.neurotwin/deid.key'
    """
    return Path(out_dir) / _STUDY_KEY


def _write_new(path: Path, key: bytes) -> None:
    """Create ``path`` with ``key`` (mode 0600); another process's file wins a race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fid:
        fid.write(key)


def _read(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except OSError as err:
        raise ConfigError(
            f"{path}: the de-identification key cannot be read ({err.strerror}); ask its "
            f"owner for read access, or set {KEY_ENV} to the study's key."
        ) from None
    if not key:
        raise ConfigError(
            f"{path}: the de-identification key file is empty; restore it, or set {KEY_ENV} "
            f"to the study's key."
        )
    return key


def deid_key(secret: str | bytes | None = None, *, out_dir: str | os.PathLike | None = None) -> bytes:
    """The de-identification key (see the module docstring for the order).

    Parameters
    ----------
    secret : str | bytes | None
        A key given by the caller.
    out_dir : path | None
        The study's derivatives folder, whose key file is used when there.

    Returns
    -------
    bytes

    Examples
    --------
    >>> deid_key("my study key")
    b'my study key'
    """
    if secret is not None:
        return secret.encode() if isinstance(secret, str) else bytes(secret)
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    if out_dir is not None and study_key_path(out_dir).is_file():
        return _read(study_key_path(out_dir))
    path = user_key_path()
    if not path.is_file():
        _write_new(path, secrets.token_hex(32).encode())
    return _read(path)


def key_source(secret=None, *, out_dir: str | os.PathLike | None = None) -> str:
    """Where :func:`deid_key` takes the key from, in words (for messages).

    Examples
    --------
    >>> key_source("k")
    'the key passed in'
    """
    if secret is not None:
        return "the key passed in"
    if os.environ.get(KEY_ENV):
        return f"the {KEY_ENV} environment variable"
    if out_dir is not None and study_key_path(out_dir).is_file():
        return f"the study's key file {study_key_path(out_dir)}"
    return f"your own key file {user_key_path()} (no study key file next to the store)"


def ensure_study_key(out_dir: str | os.PathLike) -> Path | None:
    """Make the study's key file unless ``NEUROTWIN_DEID_KEY`` is set or it exists; return its path.

    A new study gets a new random key. A derivatives folder that earlier
    runs filled before study keys existed (it has a twin store or a
    ``dataset_description.json`` but no key file) takes the user's key, the
    one those runs used, so its pseudonyms and date shifts stay as they are.

    Examples
    --------
    >>> import tempfile, os
    >>> out = tempfile.mkdtemp()
    >>> env = os.environ.pop("NEUROTWIN_DEID_KEY", None)
    >>> path = ensure_study_key(out)
    >>> oct(path.stat().st_mode & 0o777), deid_key(out_dir=out) == path.read_bytes().strip()
    ('0o600', True)
    >>> if env is not None:
    ...     os.environ["NEUROTWIN_DEID_KEY"] = env
    """
    if os.environ.get(KEY_ENV):
        return None
    path = study_key_path(out_dir)
    if path.is_file():
        return path
    out = Path(out_dir)
    earlier = (out / "dataset_description.json").is_file() or any(out.glob("twins/*.sqlite"))
    _write_new(path, deid_key() if earlier else secrets.token_hex(32).encode())
    return path


def key_check(key: bytes) -> str:
    """A value that tells keys apart without revealing them (stored with a twin store).

    Examples
    --------
    >>> key_check(b"a") == key_check(b"a") != key_check(b"b")
    True
    """
    return hmac.new(key, b"neurotwin key check", hashlib.sha256).hexdigest()[:16]
