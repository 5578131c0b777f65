"""Reading EEG, MEG and iEEG recordings into :class:`mne.io.Raw`.

MNE-Python's readers do the format work; this module adds what a clinical
study needs on top: a registry by file type, integrity checks before and
after reading (damaged files are refused, never read as garbage), channel
types/names/positions fixed (:mod:`neurotwin.io.channels`) and
de-identification on by default (:mod:`neurotwin.io.deidentify`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import mne
import numpy as np

from .._docs import fill_doc
from .._logging import logger, mne_verbose, verbose
from ..errors import DataError, NeurotwinError
from . import _checks, bids_raw
from ._registry import ReaderSpec, find_reader, register_reader
from .channels import standardize_channels
from .deidentify import deidentify_raw

__all__ = ["read_raw", "read_eeg", "read_meg"]

_CHECK_SECONDS = 10.0  # per chunk, when the data are not preloaded


def _read_eeglab(path: Path, *, preload: bool = True, **kwargs) -> mne.io.BaseRaw:
    raw = mne.io.read_raw_eeglab(path, preload=False, **kwargs)
    _checks.check_eeglab_data(path, raw._raw_extras[0].get("orig_nchan", len(raw.ch_names)), raw.n_times)
    return raw.load_data(verbose=kwargs.get("verbose")) if preload else raw


def _read_egi(path: Path, **kwargs) -> mne.io.BaseRaw:
    return mne.io.read_raw_egi(path, **kwargs)


for _spec in (
    ReaderSpec("EDF", (".edf",), "ephys", mne.io.read_raw_edf, _checks.check_edf),
    ReaderSpec("BDF", (".bdf",), "ephys", mne.io.read_raw_bdf, _checks.check_edf),
    ReaderSpec("GDF", (".gdf",), "ephys", mne.io.read_raw_gdf, _checks.check_nonempty),
    ReaderSpec("BrainVision", (".vhdr",), "ephys", mne.io.read_raw_brainvision, _checks.check_brainvision),
    ReaderSpec("EEGLAB", (".set",), "ephys", _read_eeglab, _checks.check_nonempty),
    ReaderSpec("FIF", (".fif", ".fif.gz"), "ephys", mne.io.read_raw_fif, _checks.check_nonempty),
    # MNE's 'auto' guess of the CNT sample width is wrong on common files
    ReaderSpec(
        "CNT",
        (".cnt",),
        "ephys",
        mne.io.read_raw_cnt,
        _checks.check_nonempty,
        kwargs={"data_format": "int16"},
    ),
    ReaderSpec("KIT", (".sqd", ".con"), "ephys", mne.io.read_raw_kit, _checks.check_nonempty),
    ReaderSpec("CTF", (".ds",), "ephys", mne.io.read_raw_ctf, None, is_dir=True),
    ReaderSpec("BTi/4D", ("c,rfdc", ",rfhp0.1hz"), "ephys", mne.io.read_raw_bti, _checks.check_nonempty),
    ReaderSpec("EGI", (".mff",), "ephys", _read_egi, None, is_dir=True),
    ReaderSpec("EGI simple binary", (".raw",), "ephys", _read_egi, _checks.check_nonempty),
):
    register_reader(_spec)


def _check_values(raw: mne.io.BaseRaw, path: Path, allow_nan: bool) -> None:
    """Refuse an impossible rate, empty, all-non-finite or all-flat data.

    Channels that are all NaN, flat, or hold infinite values are marked bad
    (the reason is logged); the non-finite samples of such a channel in a
    preloaded recording are set to 0, so that filters and references cannot
    spread them. NaN gaps
    in otherwise good channels are refused unless ``allow_nan``.
    """
    sfreq = raw.info["sfreq"]
    _checks.check_sfreq(sfreq, path)
    if raw.n_times < 2:
        raise DataError(f"{path}: holds {raw.n_times} sample(s); nothing to analyse.")
    picks = mne.pick_types(
        raw.info, meg=True, eeg=True, seeg=True, ecog=True, dbs=True, eog=False, exclude=()
    )
    if len(picks) == 0:
        picks = np.arange(len(raw.ch_names))
    if raw.preload:

        def block(idx):  # a few channels at a time: no copy of the whole recording
            return raw._data[idx]
    else:
        n = int(min(raw.n_times, _CHECK_SECONDS * sfreq))
        starts = sorted({0, max(0, raw.n_times // 2 - n // 2), raw.n_times - n})

        def block(idx):
            return np.concatenate([raw.get_data(idx, start=s, stop=s + n) for s in starts], axis=1)

    all_nan = np.zeros(len(picks), bool)
    flat = np.zeros(len(picks), bool)
    has_inf = np.zeros(len(picks), bool)
    n_nan = np.zeros(len(picks), int)
    nan_any_time = None
    for start in range(0, len(picks), 8):
        idx = picks[start : start + 8]
        rows = slice(start, start + len(idx))
        data = block(idx)
        nan = np.isnan(data)
        inf = np.isinf(data)
        finite = ~(nan | inf)
        has_inf[rows] = inf.any(axis=1)
        if raw.preload and inf.any():  # the bad channel's non-finite samples become 0
            hit = has_inf[rows]
            raw._data[idx[hit]] = np.where(finite[hit], data[hit], 0.0)
        n_nan[rows] = nan.sum(axis=1)
        all_nan[rows] = nan.all(axis=1)
        with np.errstate(invalid="ignore"):
            spread = np.where(
                finite.any(axis=1),
                np.max(np.where(finite, data, -np.inf), axis=1)
                - np.min(np.where(finite, data, np.inf), axis=1),
                0.0,
            )
        flat[rows] = spread == 0
        if nan.any():
            partial_rows = nan.any(axis=1) & ~nan.all(axis=1) & ~has_inf[rows]
            if partial_rows.any():
                hit = nan[partial_rows].any(axis=0)
                nan_any_time = hit if nan_any_time is None else nan_any_time | hit
    bad = all_nan | flat | has_inf
    names = [raw.ch_names[p] for p in picks]
    if bad.all():
        cause = (
            "NaN"
            if all_nan.all()
            else "infinite or NaN"
            if (all_nan | has_inf).all()
            else "flat (constant), NaN or infinite"
        )
        raise DataError(
            f"{path}: every data channel is {cause}; the recording holds no signal. "
            "Check the export settings or the amplifier's recording."
        )
    partial = (n_nan > 0) & ~all_nan & ~has_inf
    if partial.any():
        bad_names = [n for n, p in zip(names, partial) if p]
        if not allow_nan:
            raise DataError(
                f"{path}: channel(s) {bad_names[:5]}{'...' if len(bad_names) > 5 else ''} "
                f"contain {int(n_nan[partial].sum())} NaN samples (gaps). Pass "
                "allow_nan=True to load them anyway (gaps are annotated BAD_nan)."
            )
        _annotate_nan(raw, nan_any_time)
    for mask, reason in (
        (has_inf, "hold infinite values (set to 0)" if raw.preload else "hold infinite values"),
        (all_nan & ~has_inf, "are all NaN"),
        (flat & ~all_nan & ~has_inf, "are flat (constant)"),
    ):
        newly = [n for n, b in zip(names, mask) if b and n not in raw.info["bads"]]
        if newly:
            raw.info["bads"] += newly
            logger.warning("%s: channel(s) %s %s; marked bad.", path.name, newly, reason)


def _annotate_nan(raw: mne.io.BaseRaw, mask: np.ndarray) -> None:
    if not raw.preload:
        return
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    onsets, ends = edges[::2], edges[1::2]
    sf = raw.info["sfreq"]
    raw.annotations.append(raw.first_time + onsets / sf, (ends - onsets) / sf, ["BAD_nan"] * len(onsets))


@fill_doc
@verbose
def read_raw(
    fname: str | os.PathLike,
    *,
    preload: bool = True,
    deidentify: bool = True,
    subject: str | None = None,
    standardize: bool = True,
    allow_nan: bool = False,
    keep_annotations: tuple[str, ...] | list[str] = (),
    bids_root: str | os.PathLike | None = None,
    secret: str | bytes | None = None,
    verbose: bool | str | int | None = None,
    **kwargs,
) -> mne.io.BaseRaw:
    """Read an EEG, MEG or iEEG recording of any supported format.

    Parameters
    ----------
    %(fname_raw)s
    preload : bool
        Load the data into memory (default). When False, the data checks
        look at up to three 10-s stretches (start, middle, end) only.
    %(deidentify)s
    subject : str | None
        Pseudonymous subject label; keys the private date shift so that all
        of one person's sessions keep their spacing.
    standardize : bool
        Infer channel types from names, normalise 10-20 names and set the
        template montage when positions are missing
        (:func:`neurotwin.io.standardize_channels`).
    allow_nan : bool
        Accept channels with NaN gaps (annotated ``BAD_nan``) instead of
        refusing the file.
    keep_annotations : sequence of str
        Annotation descriptions that de-identification keeps besides its
        known event/artefact vocabulary (e.g. a study's ``events.tsv``
        trial types); other free text becomes ``redacted``.
    bids_root : path | None
        The root of the BIDS dataset ``fname`` belongs to: the file is then
        read with :func:`mne_bids.read_raw_bids`, so that its sidecars apply
        (mains frequency, channel types and status, events, electrode
        positions; see :mod:`neurotwin.io.bids_raw`). Formats mne-bids does
        not read, and names that are not BIDS, are read as plain files.
    secret : str | bytes | None
        The de-identification key for the date shift (default: see
        :func:`neurotwin._keys.deid_key`).
    %(verbose)s
    **kwargs
        Passed to the MNE reader (e.g. ``data_format`` for CNT).

    Returns
    -------
    %(returns_raw)s

    Raises
    ------
    neurotwin.errors.DataError
        If the file is missing, empty, truncated, damaged, or holds no
        signal; the message names the file and the cause.

    Examples
    --------
    >>> from neurotwin.datasets import sample_data_path
    >>> from neurotwin.io import read_raw
    >>> fname = next(sample_data_path().rglob("*_eeg.edf"))
    >>> raw = read_raw(fname)
    >>> raw.info["sfreq"], "O1" in raw.ch_names
    (128.0, True)
    """
    path = Path(fname)
    spec = find_reader(path, "ephys")
    if spec.check is not None:
        spec.check(path)
    read_kwargs = {**spec.kwargs, **kwargs, "preload": preload, "verbose": mne_verbose()}
    bids = bids_root is not None and bids_raw.bids_readable(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if bids:
                raw = bids_raw.read_bids(path, Path(bids_root), spec, read_kwargs)
            else:
                raw = spec.read(path, **read_kwargs)
        except NeurotwinError:
            raise
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as err:  # any reader failure becomes a named DataError
            if bids and bids_raw.sidecar_problem(err):
                raise DataError(
                    f"{path}: its BIDS sidecars do not fit the recording: {bids_raw.first_sentence(err)} "
                    "Correct or remove the sidecar named."
                ) from err
            raise DataError(
                f"{path}: could not be read as {spec.name} "
                f"({type(err).__name__}: {err}). The file is damaged or not "
                f"a {spec.name} file."
            ) from err
    for w in caught:
        logger.warning("%s: %s", path.name, w.message)
    _check_values(raw, path, allow_nan)
    if standardize:
        standardize_channels(raw)
    if deidentify:
        deidentify_raw(raw, subject=subject, secret=secret, keep_annotations=keep_annotations)
    logger.info(
        "Read %s: %d channels, %.1f s at %g Hz",
        path.name,
        len(raw.ch_names),
        raw.times[-1] if raw.n_times else 0.0,
        raw.info["sfreq"],
    )
    return raw


def _require(raw: mne.io.BaseRaw, path: Path, what: str, **types: bool) -> mne.io.BaseRaw:
    if len(mne.pick_types(raw.info, exclude=(), **types)) == 0:
        raise DataError(
            f"{path}: has no {what} channels (types found: "
            f"{sorted(set(raw.get_channel_types()))}). Use read_raw() for other data."
        )
    return raw


@fill_doc
def read_eeg(fname: str | os.PathLike, **kwargs) -> mne.io.BaseRaw:
    """Read an EEG recording; refuse a file without EEG channels.

    Parameters
    ----------
    %(fname_raw)s
    %(kwargs_read_raw)s

    Returns
    -------
    %(returns_raw)s

    Examples
    --------
    >>> from neurotwin.datasets import sample_data_path
    >>> from neurotwin.io import read_eeg
    >>> raw = read_eeg(next(sample_data_path().rglob("*_eeg.edf")))
    >>> "eog" in raw.get_channel_types()
    True
    """
    return _require(read_raw(fname, **kwargs), Path(fname), "EEG", eeg=True)


@fill_doc
def read_meg(fname: str | os.PathLike, **kwargs) -> mne.io.BaseRaw:
    """Read a MEG recording; refuse a file without MEG channels.

    Parameters
    ----------
    %(fname_raw)s
    %(kwargs_read_raw)s

    Returns
    -------
    %(returns_raw)s

    Examples
    --------
    >>> from neurotwin.io import read_meg
    >>> raw = read_meg("sample_audvis_raw.fif")  # doctest: +SKIP
    """
    return _require(read_raw(fname, **kwargs), Path(fname), "MEG", meg=True, ref_meg=False)
