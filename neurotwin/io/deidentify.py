"""Removal of what identifies a person from loaded recordings and tables.

Built on :meth:`mne.io.Raw.anonymize`, which clears names, IDs, the
experimenter and device fields and shifts dates; on top of it, this module

* removes the birth date (MNE only shifts it) and keeps only sex/handedness;
* keeps an annotation's description only when it belongs to a known event
  or artefact vocabulary (:func:`annotation_kept`: MNE/BIDS ``BAD_``/
  ``EDGE`` marks, BrainVision marker types, event codes, common clinical
  event words, the study's ``events.tsv`` trial types and a list of the
  caller's); anything else, which MNE leaves untouched and may hold a
  name, a hospital or a birth date, becomes ``redacted`` (``BAD_redacted``
  when it marked bad data, so the rejection holds). The identifying words
  in the file's header (names, hospital ID, birth date in its usual
  spellings) are removed from the kept ones too;
* shifts the recording date by a *per-person* number of days derived from a
  private key, so intervals between one person's sessions survive (the
  twin needs them) while the real dates do not. The key (the study's, next
  to its derivatives, or ``NEUROTWIN_DEID_KEY``, or the user's; see
  :mod:`neurotwin._keys`) never reaches an output.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import mne
import numpy as np

from .._keys import deid_key
from .._logging import logger

__all__ = [
    "deidentify_raw",
    "scrub_participants",
    "annotation_kept",
    "PARTICIPANT_COLUMNS",
    "ANNOTATION_WORDS",
]

_MIN_SHIFT, _SPAN = 3650, 3650  # shift back 10 to 20 years
_EPOCH = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)
_REDACTED = "[redacted]"

#: participants.tsv columns kept (an allowlist: any other column is dropped,
#: since a free-text or local column may identify a person).
PARTICIPANT_COLUMNS = (
    "participant_id",
    "age",
    "sex",
    "gender",
    "handedness",
    "hand",
    "group",
    "condition",
    "diagnosis",
    "species",
    "strain",
    "arm",
)

#: Words an annotation may consist of (with numbers up to 4 digits and short
#: codes such as ``S 1``, ``R128``, ``N2``) to be kept as it is.
ANNOTATION_WORDS = frozenset(
    """
bad edge boundary eyes eye open opened closed close ec eo rest resting task blink blinks saccade saccades
movement move moving muscle artifact artefact artifacts artefacts arousal sleep stage wake awake drowsy
drowsiness seizure spike spikes sharp wave waves photic stimulation stim stimulus response trigger marker
hv hyperventilation start stop begin end onset offset recovery pause resume segment new sync syncstatus
on off dc correction impedance calibration hz trial block run condition baseline target standard deviant
left right hand foot feet tongue fixation cross cue feedback button press counting count arithmetic math
eeg ecg emg eog channel lights light talking talk swallow swallowing cough chewing electrode pop noise
rem nrem flat jump discontinuity gap nan acq skip acquisition t0 t1 t2 break
""".split()
)

_CODE = re.compile(r"^[A-Za-z]{0,4}\d{1,4}[A-Za-z]?$")  # S1, R128, T0, N2, 255, 10
_DATE = re.compile(r"\d{1,4}\s*[./-]\s*\d{1,2}\s*[./-]\s*\d{2,4}")  # 02.01.1950, 1950-01-02, 2/1/50
_BV_TYPE = re.compile(
    r"^(Stimulus|Response|Trigger|Marker|New Segment|SyncStatus|DC Correction|Impedance|"
    r"Optic|Voice|Bad Interval|Time 0)/",
    re.IGNORECASE,
)


def annotation_kept(description: str, extra: tuple[str, ...] | frozenset = ()) -> bool:
    """Whether an annotation's description is kept as it is by de-identification.

    Kept: the exact descriptions in ``extra`` (e.g. a study's ``events.tsv``
    trial types), and descriptions made only of :data:`ANNOTATION_WORDS`
    and event codes (``BAD_blink``, ``EDGE boundary``, ``Stimulus/S  1``,
    ``Eyes Closed``, ``T1``, ``Photic 10 Hz``). Free text is not.

    Examples
    --------
    >>> from neurotwin.io import annotation_kept
    >>> annotation_kept("BAD_muscle"), annotation_kept("Stimulus/S  1"), annotation_kept("Eyes Closed")
    (True, True, True)
    >>> annotation_kept("Comment/call Hilda Voss"), annotation_kept("02.01.1950")
    (False, False)
    """
    if description in extra:
        return True
    text = description.strip()
    if _DATE.search(text):  # a date is never an event label (and may be a birth date)
        return False
    match = _BV_TYPE.match(text)
    if match:
        text = text[match.end() :]
    words = [w for w in re.split(r"[\s_/:,;.()\-]+", text) if w]
    known = all(len(w) == 1 or w.lower() in ANNOTATION_WORDS or _CODE.match(w) for w in words)
    return known and len(words) <= 8


def _neutral(description: str) -> str:
    head = description.strip().upper()
    for mark in ("BAD", "EDGE"):
        if head.startswith(mark):
            return f"{mark}_redacted"
    return "redacted"


def _shift_days(subject_key: str, secret: str | bytes | None) -> int:
    digest = hmac.new(deid_key(secret), subject_key.encode(), hashlib.sha256).digest()
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
        for fmt in (
            "%Y-%m-%d",
            "%d.%m.%Y",
            "%d/%m/%Y",
            "%m/%d/%Y",
            "%Y%m%d",
            "%d-%b-%Y",
            "%d %b %Y",
            "%d.%m.%y",
            "%d-%m-%Y",
        ):
            tokens.add(birthday.strftime(fmt))
    experimenter = str(info.get("experimenter") or "")
    tokens.update(p for p in re.split(r"[\s_,]+", experimenter) if len(p) >= 3)
    return sorted(tokens, key=len, reverse=True)


def deidentify_raw(
    raw: mne.io.BaseRaw,
    *,
    subject: str | None = None,
    secret: str | bytes | None = None,
    keep_annotations: tuple[str, ...] | list[str] = (),
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
        or the user's key file (:func:`neurotwin._keys.deid_key`).
    keep_annotations : sequence of str
        Annotation descriptions to keep as they are besides the built-in
        vocabulary (:func:`annotation_kept`), e.g. the study's
        ``events.tsv`` trial types.

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
        subject = "|".join(str(si.get(k) or "") for k in ("his_id", "last_name", "first_name", "birthday"))
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
    if len(raw.annotations):
        extra = frozenset(keep_annotations)
        desc = list(raw.annotations.description)
        new = [d if annotation_kept(d, extra) else _neutral(d) for d in desc]
        if tokens:
            pattern = re.compile("|".join(re.escape(t) for t in tokens), re.IGNORECASE)
            new = [pattern.sub(_REDACTED, d) for d in new]
        n = sum(a != b for a, b in zip(desc, new))
        if n:
            raw.annotations.description = np.array(new, dtype=object)
            logger.info(
                "De-identification replaced %d annotation description(s) that are not known event or "
                "artefact labels (pass keep_annotations= to keep a study's own).",
                n,
            )
    return raw


def scrub_participants(table, keep: tuple[str, ...] | list[str] = ()):
    """Keep only the participant columns known not to identify a person.

    An allowlist: :data:`PARTICIPANT_COLUMNS` (``participant_id``, age,
    sex, handedness, group, diagnosis, ...) and ``keep``; every other
    column (names, birth dates, MRNs, initials, postcodes, notes, a
    referring hospital, however they are spelled) is dropped.

    Parameters
    ----------
    table : pandas.DataFrame
        A ``participants.tsv``-like table.
    keep : sequence of str
        Further columns to keep (matched case-insensitively).

    Returns
    -------
    table : pandas.DataFrame
        A copy with the kept columns only.

    Examples
    --------
    >>> import pandas as pd
    >>> from neurotwin.io import scrub_participants
    >>> df = pd.DataFrame({"participant_id": ["sub-01"], "age": [40], "patientname": ["Jane Doe"],
    ...                    "dateofbirth": ["1961-04-12"], "postcode": ["AB1 2CD"]})
    >>> list(scrub_participants(df).columns)
    ['participant_id', 'age']
    """
    allowed = {c.lower() for c in (*PARTICIPANT_COLUMNS, *keep)}
    drop = [col for col in table.columns if str(col).lower() not in allowed]
    if drop:
        logger.info("Participant columns not used (not in the de-identification allowlist): %d", len(drop))
    return table.drop(columns=drop)
