"""Channel names, types and positions of EEG recordings.

Clinical and research files name channels inconsistently (``EEG Fp1``,
``FP1``, ``Fc5.``, ``Cz-REF``) and many formats store every channel as EEG,
including EOG, ECG and reference derivations such as ``A2-A1``. MNE reads
what the file says; these functions turn it into what the recording is.
"""

from __future__ import annotations

import re

import mne

from .._logging import logger

# name pattern (upper case, after prefix stripping) -> MNE channel type
_TYPE_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(V|H)?EOG|^EOG|EOG$|^(LOC|ROC)$"), "eog"),
    (re.compile(r"^(ECG|EKG)|(ECG|EKG)$"), "ecg"),
    (re.compile(r"^EMG|EMG$|^CHIN"), "emg"),
    (re.compile(r"^(STI|STATUS|TRIG|TRIGGER|EVENT)"), "stim"),
    (re.compile(r"^RESP"), "resp"),
    (re.compile(r"^(SPO2|SAO2|PULSE|PLETH)"), "misc"),
    # derivations of reference electrodes (ears, mastoids): not scalp EEG
    (re.compile(r"^(A1|A2|M1|M2|REF)-(A1|A2|M1|M2|REF)$"), "misc"),
]
_PREFIXES = re.compile(r"^(EEG|EOG|ECG|EKG|EMG|POL)[\s_:]+", re.IGNORECASE)
_SUFFIXES = re.compile(r"[-_](REF|LE|AR|AVG|AV|CAR)$", re.IGNORECASE)


def _standard_montage_name() -> str:
    """Name of MNE's template 10-05 montage (renamed in MNE 1.13)."""
    names = mne.channels.get_builtin_montages()
    return "colin27_1005" if "colin27_1005" in names else "standard_1005"


def standard_montage() -> mne.channels.DigMontage:
    """Return MNE's template 10-05 montage (ships with MNE; no download).

    Examples
    --------
    >>> from neurotwin.io import standard_montage
    >>> "Oz" in standard_montage().ch_names
    True
    """
    return mne.channels.make_standard_montage(_standard_montage_name())


def _canonical_names() -> dict[str, str]:
    return {n.lower(): n for n in standard_montage().ch_names}


def normalize_name(name: str, canonical: dict[str, str] | None = None) -> str:
    """Return the 10-20/10-10 spelling of an EEG channel name, if it has one.

    Strips surrounding space and trailing dots (``Fc5.`` -> ``FC5``), type
    prefixes (``EEG Fp1`` -> ``Fp1``) and reference suffixes (``Cz-REF``),
    and restores the standard case (``FP1`` -> ``Fp1``), when the result is
    a standard position. Other names lose only their trailing dots
    (``EEG 001`` stays), except derivations (``EEG A2-A1`` -> ``A2-A1``).

    Parameters
    ----------
    name : str
        A channel name as stored in the file.
    canonical : dict | None
        Lower-case -> standard spelling map (default: MNE's 10-05 montage).

    Returns
    -------
    name : str
        The normalised name.

    Examples
    --------
    >>> from neurotwin.io import normalize_name
    >>> [normalize_name(n) for n in ["Fc5.", "EEG FP1", "Cz-REF", "EEG A2-A1", "EEG 001"]]
    ['FC5', 'Fp1', 'Cz', 'A2-A1', 'EEG 001']
    """
    canonical = _canonical_names() if canonical is None else canonical
    bare = name.strip().rstrip(".").strip()
    stem = _PREFIXES.sub("", bare)
    for candidate in (stem, _SUFFIXES.sub("", stem)):
        if candidate.lower() in canonical:
            return canonical[candidate.lower()]
    # not a standard position: keep the name ("EEG 001" stays), bar the dots,
    # and drop the type prefix of derivations ("EEG A2-A1" -> "A2-A1")
    return stem if "-" in stem else bare


def infer_channel_type(name: str) -> str | None:
    """Guess the channel type from its name; None when it looks like EEG.

    Examples
    --------
    >>> from neurotwin.io import infer_channel_type
    >>> [infer_channel_type(n) for n in ["ECG ECG", "VEOG", "A2-A1", "Cz"]]
    ['ecg', 'eog', 'misc', None]
    """
    upper = name.strip().rstrip(".").upper()
    prefix = _PREFIXES.match(upper)
    stem = _PREFIXES.sub("", upper)
    for pattern, kind in _TYPE_RULES:
        if pattern.search(stem):
            return kind
    if prefix and prefix.group(1) in ("EOG", "ECG", "EKG", "EMG"):
        return {"EKG": "ecg"}.get(prefix.group(1), prefix.group(1).lower())
    return None


def standardize_channels(raw: mne.io.BaseRaw, *, set_montage: bool = True) -> mne.io.BaseRaw:
    """Fix channel types, names and positions of an EEG recording in place.

    Only channels stored as EEG are touched (MEG, iEEG and channels a file
    already typed are left alone):

    1. types are inferred from names (EOG, ECG, EMG, stim, respiration;
       reference derivations like ``A2-A1`` become ``misc``);
    2. EEG names are normalised to the standard 10-05 spelling
       (:func:`normalize_name`), unless that would create duplicates;
    3. if no EEG channel has a position, MNE's template 10-05 montage is
       set (channels it lacks are logged and keep no position).

    Parameters
    ----------
    raw : mne.io.Raw
        The recording; modified in place.
    set_montage : bool
        Whether to set the template montage when positions are missing.

    Returns
    -------
    raw : mne.io.Raw
        The same object.

    Examples
    --------
    >>> import mne, numpy as np
    >>> from neurotwin.io import standardize_channels
    >>> info = mne.create_info(["EEG FP1", "Oz.", "ECG"], 100.0, "eeg")
    >>> raw = mne.io.RawArray(np.zeros((3, 10)), info, verbose=False)
    >>> standardize_channels(raw).ch_names, raw.get_channel_types()
    (['Fp1', 'Oz', 'ECG'], ['eeg', 'eeg', 'ecg'])
    """
    types = raw.get_channel_types()
    new_types = {}
    for name, kind in zip(raw.ch_names, types):
        if kind != "eeg":
            continue
        guess = infer_channel_type(name)
        if guess is not None:
            new_types[name] = guess
    if new_types:
        raw.set_channel_types(new_types, on_unit_change="ignore", verbose="error")
        logger.info("Channel types set from names: %s", new_types)

    canonical = _canonical_names()
    mapping = {}
    for name, kind in zip(raw.ch_names, raw.get_channel_types()):
        if kind == "eeg":
            new = normalize_name(name, canonical)
        elif name in new_types:  # typed here from its name: "ECG ECG" -> "ECG"
            new = _PREFIXES.sub("", name.strip().rstrip(".").strip()) or name
        else:
            new = name
        if new != name:
            mapping[name] = new
    final = [mapping.get(n, n) for n in raw.ch_names]
    if len(set(final)) == len(final):
        if mapping:
            raw.rename_channels(mapping, verbose="error")
            logger.debug("Channels renamed: %s", mapping)
    else:
        logger.warning("Channel names left as stored: normalising them would create duplicates.")

    if set_montage:
        _set_template_montage(raw)
    return raw


def _set_template_montage(raw: mne.io.BaseRaw) -> None:
    import numpy as np

    picks = mne.pick_types(raw.info, eeg=True, exclude=())
    if len(picks) == 0:
        return
    locs = np.array([raw.info["chs"][p]["loc"][:3] for p in picks])
    if np.any(np.isfinite(locs).all(axis=1) & (np.abs(locs).sum(axis=1) > 0)):
        return  # the file has positions: keep them
    montage = standard_montage()
    known = {n.lower() for n in montage.ch_names}
    missing = [raw.ch_names[p] for p in picks if raw.ch_names[p].lower() not in known]
    raw.set_montage(montage, match_case=False, on_missing="ignore", verbose="error")
    if missing:
        logger.warning("No template position for EEG channel(s) %s; they have no position.", missing)
    logger.info("Template montage %s set (the file had no positions).", _standard_montage_name())
