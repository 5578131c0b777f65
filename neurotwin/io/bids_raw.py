"""Reading a recording of a BIDS dataset with its sidecars, through mne-bids.

:func:`mne_bids.read_raw_bids` applies what the BIDS sidecars say about a
recording: the mains frequency (``PowerLineFrequency`` of ``_eeg.json``
becomes ``info["line_freq"]``), channel types and bad channels
(``_channels.tsv``), events (``_events.tsv`` becomes the annotations),
electrode positions (``_electrodes.tsv`` with ``_coordsystem.json``) and the
acquisition time (``scans.tsv``). :func:`neurotwin.io.read_raw` calls it
(``bids_root=``) between its own checks of the file and of the data, and
de-identifies what it returns (mne-bids fills ``subject_info`` from
``participants.tsv``, e.g. a birthday from the age; none of it is kept).

Formats mne-bids cannot read (GDF, CNT, EGI) are read as plain files.
"""

from __future__ import annotations

import re
from pathlib import Path

import mne

from .._logging import mne_verbose
from .bids import name_entities

__all__ = ["bids_readable", "bids_sidecars"]

# the extensions mne_bids.read_raw_bids reads (mne_bids.read._read_raw)
_EXTENSIONS = (".edf", ".bdf", ".vhdr", ".set", ".fif", ".ds", ".con", ".sqd")
_SIDECARS = (".json", ".tsv")


def bids_readable(path: Path) -> bool:
    """Whether ``path`` is a BIDS-named recording of a format mne-bids reads.

    Examples
    --------
    >>> from pathlib import Path
    >>> bids_readable(Path("sub-01/eeg/sub-01_task-rest_eeg.edf"))
    True
    >>> bids_readable(Path("sub-01/eeg/sub-01_task-rest_eeg.gdf")), bids_readable(Path("rec.edf"))
    (False, False)
    """
    name = path.name.lower()
    return name.startswith("sub-") and any(name.endswith(ext) for ext in _EXTENSIONS)


def bids_sidecars(path: Path, root: Path) -> list[Path]:
    """The sidecar files mne-bids may apply to a recording (for cache keys).

    The ``.json``/``.tsv`` files beside it whose entities agree with the
    recording's on every entity both have (so the session's
    ``_electrodes.tsv`` of ``space-CapTrak`` counts, another run's
    ``_events.tsv`` does not), the subject/session ``scans.tsv`` and the
    dataset's top-level sidecars (BIDS inheritance). ``participants.tsv``
    is left out: nothing mne-bids takes from it is kept.

    Parameters
    ----------
    path : Path
        The recording.
    root : Path
        The dataset's root.

    Returns
    -------
    list of Path
        In a fixed order.
    """
    own = name_entities(path.name)
    found = []
    folders = [path.parent]
    if path.parent.parent != root and path.parent.parent.is_relative_to(root):
        folders.append(path.parent.parent)  # ses-<label>/ or sub-<label>/: the scans.tsv
    folders.append(root)
    for folder in dict.fromkeys(folders):
        for f in sorted(folder.iterdir()):
            if not f.is_file() or f.suffix not in _SIDECARS or f == path:
                continue
            if f.name == "participants.tsv" or f.name.startswith("."):
                continue
            ents = name_entities(f.name)
            if all(own.get(k, v) == v for k, v in ents.items()):
                found.append(f)
    return found


def read_bids(path: Path, root: Path, spec, read_kwargs: dict) -> mne.io.BaseRaw:
    """:func:`mne_bids.read_raw_bids` of ``path`` in the dataset at ``root``.

    ``read_kwargs`` go to MNE's reader (``preload`` is applied after, since
    mne-bids reads some formats with ``preload=False`` only).
    """
    from mne_bids import get_bids_path_from_fname, read_raw_bids

    kwargs = {k: v for k, v in read_kwargs.items() if k not in ("preload", "verbose")}
    bids_path = get_bids_path_from_fname(path, check=False)
    bids_path.update(root=root, check=False)
    raw = read_raw_bids(bids_path, extra_params=kwargs or None, verbose=mne_verbose())
    if spec.name == "EEGLAB":  # the data-size check _read_eeglab does for plain files
        from ._checks import check_eeglab_data

        check_eeglab_data(path, raw._raw_extras[0].get("orig_nchan", len(raw.ch_names)), raw.n_times)
    if read_kwargs.get("preload", True):
        raw.load_data(verbose=mne_verbose())
    return raw


def sidecar_problem(err: Exception) -> bool:
    """Whether an mne-bids error is about the sidecars (not the data file)."""
    return bool(
        re.search(
            r"channels\.tsv|sidecar|events\.tsv|electrodes|coordsystem|scans\.tsv|"
            r"participants\.tsv|mismatch|\.json",
            str(err),
        )
    )


def first_sentence(err: Exception) -> str:
    """An mne-bids message without its advice on mne-bids' own arguments (not the user's to pass)."""
    text = re.split(r"(?<=\.)\s*(?:Either|Pass|Please|Use) ", str(err), maxsplit=1)[0].strip()
    return text if text.endswith(".") else text + "."
