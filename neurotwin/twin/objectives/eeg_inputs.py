"""What the EEG objective reads besides the PSD: the fitted frequency grid, electrode positions, the head.

Examples
--------
>>> from neurotwin.twin.objectives.eeg_inputs import MAINS
>>> MAINS
(50.0, 60.0)
"""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np

from ...errors import ConfigError, DataError, NoPositionsError
from ...io.channels import standard_montage
from ...model.leadfield import template_cortex
from .base import optional_array

__all__ = ["MAINS", "bin_psd", "cortex_for", "eeg_info", "positions"]

#: mains frequencies whose bins (and harmonics') are left out of the fit
MAINS = (50.0, 60.0)


def bin_psd(
    freqs,
    psd,
    *,
    fmin: float = 2.0,
    fmax: float = 40.0,
    resolution: float = 1.0,
    exclude=MAINS,
    exclude_width: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Average a PSD's neighbouring bins to ``resolution`` Hz within ``fmin``-``fmax``.

    Bins within ``exclude_width`` Hz of a mains frequency or its harmonics
    are dropped first (line noise is not brain activity).

    Returns
    -------
    freqs : ndarray, shape (F,)
    psd : ndarray, shape (C, F)
    step : int
        Original bins averaged per bin (multiply the PSD's degrees of freedom by it).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin.objectives.eeg_inputs import bin_psd
    >>> f, p, step = bin_psd(np.arange(0, 100.01, 0.5), np.ones((2, 201)), fmax=60.0)
    >>> step, bool(np.all(np.abs(f - 50) > 1))
    (2, True)
    """
    freqs = np.asarray(freqs, float)
    psd = np.asarray(psd, float)
    sel = (freqs >= fmin) & (freqs <= fmax)
    for mains in exclude:
        for k in range(1, int(fmax // mains) + 1):
            sel &= np.abs(freqs - k * mains) > exclude_width
    if sel.sum() < 5:
        raise DataError(f"the PSD has fewer than 5 frequencies in {fmin}-{fmax} Hz.")
    step = max(1, int(round(resolution / np.median(np.diff(freqs[sel])))))
    idx = np.flatnonzero(sel)
    # group consecutive selected bins into runs of `step` (never across an excluded gap)
    groups, run = [], []
    for i in idx:
        if run and i != run[-1] + 1:
            run = []
        run.append(i)
        if len(run) == step:
            groups.append(run)
            run = []
    groups = np.array(groups)
    return freqs[groups].mean(axis=1), psd[:, groups].mean(axis=2), step


def positions(features, chans: list[str]) -> np.ndarray | None:
    """The recording's own electrode positions (m, head frame) when the features carry them."""
    arr = optional_array(features, "channel_positions")
    if arr is None or list(arr.coords["channel"]) != list(chans):
        return None
    return np.asarray(arr.values, float)


def eeg_info(chans: list[str], positions: np.ndarray | None, sfreq: float = 1000.0) -> mne.Info:
    """An Info of these EEG channels placed at their own positions, or at the template 10-05 ones."""
    info = mne.create_info(list(chans), float(sfreq), "eeg")
    if positions is not None:
        montage = mne.channels.make_dig_montage(dict(zip(chans, positions)), coord_frame="head")
        info.set_montage(montage, verbose="error")
        return info
    template = standard_montage()
    missing = [c for c in chans if c not in template.ch_names]
    if missing:
        raise NoPositionsError(
            f"channel(s) {missing[:5]} have neither positions in the recording nor a "
            f"standard 10-05 name, so the twin cannot place them on the head; set a "
            f"montage on the recording (raw.set_montage) before computing the features, "
            f"or drop them."
        )
    info.set_montage(template, verbose="error")
    return info


def centres_head(con) -> str:
    """The name of a head model with dipoles at the connectome's region centres."""
    return "region centres" + (" (their orientations)" if con.orientations is not None else "")


def cortex_for(con, head: str):
    """The cortical surface of the EEG head model, or None for dipoles at the region centres."""
    if head == "centres":
        return None
    template = (con.provenance or {}).get("template")
    source = (con.provenance or {}).get("file")
    if template == "tvb76" and source:
        try:
            return template_cortex(Path(source).parent.parent, 76)
        except DataError:
            if head == "cortex":
                raise
            return None
    if head == "cortex":
        raise ConfigError(
            "head='cortex' needs a connectome with a cortical surface (TVB's 76-region "
            "template); use head='centres' for this connectome."
        )
    return None
