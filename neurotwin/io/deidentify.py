"""Removal of what identifies a person from loaded recordings and tables.

Built on :meth:`mne.io.Raw.anonymize`, which clears names, IDs, the
experimenter and device fields and shifts dates; on top of it, this module

* removes the birth date (MNE only shifts it) and keeps only sex/handedness;
* removes identifying words (names, hospital ID, birth date in its usual
  spellings) from free-text annotations, which MNE leaves untouched;
* shifts the recording date by a *per-person* number of days derived from a
  private key, so intervals between one person's sessions survive (the
  twin needs them) while the real dates do not. The key never leaves the
  user's machine: it is read from ``NEUROTWIN_DEID_KEY`` or from a key file
  outside the project (``$XDG_CONFIG_HOME/neurotwin/deid.key``, created on
  first use with mode 0600).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import mne

from .._logging import logger

__all__ = ["deidentify_raw", "scrub_participants", "IDENTIFYING_COLUMNS"]

_KEY_ENV = "NEUROTWIN_DEID_KEY"
_MIN_SHIFT, _SPAN = 3650, 3650  # shift back 10 to 20 years
_EPOCH = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)
_REDACTED = "[redacted]"

#: participants.tsv columns never shown or written (matched case-insensitively
#: as whole words of the column name).
IDENTIFYING_COLUMNS = (
    "name", "first", "last", "surname", "birth", "birthday", "dob", "mrn",
    "hospital", "address", "phone", "email", "ssn", "nhs", "insurance",
    "date", "his",
)


def _key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "neurotwin" / "deid.key"


def _secret(secret: str | bytes | None) -> bytes:
    """Return the private de-identification key (see module docstring)."""
    if secret is not None:
        return secret.encode() if isinstance(secret, str) else bytes(secret)
    env = os.environ.get(_KEY_ENV)
    if env:
        return env.encode()
    path = _key_file()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fid:
            fid.write(secrets.token_hex(32))
        logger.info("Created a private de-identification key at %s", path)
    return path.read_bytes().strip()


def _shift_days(subject_key: str, secret: str | bytes | None) -> int:
    digest = hmac.new(_secret(secret), subject_key.encode(), hashlib.sha256).digest()
    return _MIN_SHIFT + int.from_bytes(digest[:4], "big") % _SPAN


def _identifying_tokens(info: mne.Info) -> list[str]:
    """Words in ``info`` that identify the person, longest first."""
    si = info.get("subject_info") or {}
    tokens: set[str] = set()
    for key in ("first_name", "middle_name", "last_name", "his_id"):
        value = str(si.get(key) or "")
        for part in re.split(r"[\s_,]+", value):
            if len(part) >= 2 and part.upper() not in {"X", "0", "NONE", "MNE_ANONYMIZE"}:
                tokens.add(part)
        if len(value) >= 2 and value.upper() not in {"X", "0"}:
            tokens.add(value)
    birthday = si.get("birthday")
    if isinstance(birthday, dt.date):
        for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d",
                    "%d-%b-%Y", "%d %b %Y", "%d.%m.%y", "%d-%m-%Y"):
            tokens.add(birthday.strftime(fmt))
    experimenter = str(info.get("experimenter") or "")
    tokens.update(p for p in re.split(r"[\s_,]+", experimenter) if len(p) >= 3)
    return sorted(tokens, key=len, reverse=True)


def deidentify_raw(
    raw: mne.io.BaseRaw,
    *,
    subject: str | None = None,
    secret: str | bytes | None = None,
) -> mne.io.BaseRaw:
    """Remove what identifies the person from a recording, in place.

    Parameters
    ----------
    raw : mne.io.Raw
        The recording; modified in place.
    subject : str | None
        Pseudonymous subject label (e.g. the BIDS ``sub-`` label). It keys
        the date shift, so every session of a person is shifted by the same
        number of days. If None, the shift is keyed by the identity stored
        in the file (name/ID), which is then removed.
    secret : str | bytes | None
        The private key for the date shift; default ``NEUROTWIN_DEID_KEY``
        or the user's key file (see the module docstring).

    Returns
    -------
    raw : mne.io.Raw
        The same object.

    Notes
    -----
    The shift is 10 to 20 years back, the same for one person under one key.
    A recording whose shifted date would fall before 1970 (MNE's limit) gets
    no date at all. ``raw.filenames`` still holds the path it was read from.

    Examples
    --------
    >>> import mne, numpy as np, datetime as dt
    >>> from neurotwin.io import deidentify_raw
    >>> info = mne.create_info(["Cz"], 100.0, "eeg")
    >>> info["subject_info"] = {"last_name": "Doe", "birthday": dt.date(1960, 1, 2)}
    >>> raw = mne.io.RawArray(np.zeros((1, 100)), info, verbose=False)
    >>> raw.set_meas_date(dt.datetime(2024, 3, 5, tzinfo=dt.timezone.utc))
    <RawArray ...>
    >>> raw = deidentify_raw(raw, subject="01", secret="doc-example")
    >>> raw.info["subject_info"] is None, raw.info["meas_date"].year < 2015
    (True, True)
    """
    info = raw.info
    si = dict(info.get("subject_info") or {})
    tokens = _identifying_tokens(info)
    if subject is None:
        subject = "|".join(
            str(si.get(k) or "") for k in ("his_id", "last_name", "first_name", "birthday")
        )
    meas_date = info["meas_date"]
    days = None
    if meas_date is not None:
        days = _shift_days(str(subject), secret)
        if meas_date - dt.timedelta(days=days) < _EPOCH:
            days = None
    with info._unlock():
        info["subject_info"] = None
    if days is None:
        raw.anonymize(daysback=None, keep_his=False, verbose="error")
        raw.set_meas_date(None)
    else:
        raw.anonymize(daysback=days, keep_his=False, verbose="error")
    keep = {k: si[k] for k in ("sex", "hand") if si.get(k) is not None}
    with info._unlock():
        info["subject_info"] = keep or None
        info["experimenter"] = None
    if tokens and len(raw.annotations):
        pattern = re.compile("|".join(re.escape(t) for t in tokens), re.IGNORECASE)
        desc = raw.annotations.description
        new = [pattern.sub(_REDACTED, d) for d in desc]
        n = sum(a != b for a, b in zip(desc, new))
        if n:
            raw.annotations.description[:] = new
            logger.info("Removed identifying words from %d annotation(s).", n)
    return raw


def scrub_participants(table):
    """Drop identifying columns from a participants table.

    Columns whose names contain a word of :data:`IDENTIFYING_COLUMNS`
    (``name``, ``birth``, ``dob``, ``mrn``, ``date``, ...) are removed;
    ``participant_id``, age, sex, handedness, group and the like are kept.

    Parameters
    ----------
    table : pandas.DataFrame
        A ``participants.tsv``-like table.

    Returns
    -------
    table : pandas.DataFrame
        A copy without the identifying columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from neurotwin.io import scrub_participants
    >>> df = pd.DataFrame({"participant_id": ["sub-01"], "age": [40],
    ...                    "patient_name": ["Jane Doe"], "birth_date": ["1961-04-12"]})
    >>> list(scrub_participants(df).columns)
    ['participant_id', 'age']
    """
    drop = []
    for col in table.columns:
        if col == "participant_id":
            continue
        spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(col))  # PatientName -> Patient_Name
        words = re.split(r"[^a-z0-9]+", spaced.lower())
        if any(w in IDENTIFYING_COLUMNS for w in words):
            drop.append(col)
    if drop:
        logger.info("Identifying participant columns not used: %s", drop)
    return table.drop(columns=drop)
