"""EEG observation: a lead field from region centres to the patient's electrodes, built offline.

MNE builds the forward model: a spherical head (``make_sphere_model``)
fitted to the electrode positions, and one dipole at each region centre,
oriented radially (from the sphere's centre), which is how large pools of
cortical pyramidal cells project to the scalp to a first approximation.
The connectome's centres (template space, mm) are moved into the head
sphere by an affine fit: centred on the sphere's origin and scaled so the
outermost centre lies at 80 % of the brain radius. It is a generic head,
not the patient's anatomy (no MRI/BEM needed, nothing downloaded).
"""

from __future__ import annotations

from dataclasses import dataclass

import mne
import numpy as np

from .._validation import did_you_mean
from ..errors import DataError

__all__ = ["LeadField", "sphere_leadfield"]


@dataclass(frozen=True)
class LeadField:
    """Gain from region sources to EEG channels.

    Attributes
    ----------
    gain : ndarray, shape (n_channels, n_regions)
        Volts at each electrode per unit source.
    ch_names : list of str
    regions : list of str
    """

    gain: np.ndarray
    ch_names: list[str]
    regions: list[str]

    def pick(self, ch_names) -> LeadField:
        """The rows of these channels, in this order (absent names are an error)."""
        missing = [c for c in ch_names if c not in self.ch_names]
        if missing:
            raise DataError(f"channel(s) {missing[:5]} are not in the lead field (it has "
                            f"{len(self.ch_names)} channels).{did_you_mean(str(missing[0]), self.ch_names)}")
        idx = [self.ch_names.index(c) for c in ch_names]
        return LeadField(self.gain[idx], list(ch_names), list(self.regions))

    def project(self, activity: np.ndarray) -> np.ndarray:
        """EEG from region activity ``(..., n_times, n_regions)`` -> ``(..., n_times, n_channels)``."""
        activity = np.asarray(activity, float)
        if activity.shape[-1] != len(self.regions):
            raise DataError(f"activity has {activity.shape[-1]} regions; the lead field {len(self.regions)}.")
        return activity @ self.gain.T


def sphere_leadfield(info: mne.Info, centres_mm, regions=None) -> LeadField:
    """Lead field of radial dipoles at region centres in a sphere fitted to the electrodes.

    Parameters
    ----------
    info : mne.Info
        The patient's EEG channels with positions (e.g. a recording's
        ``raw.info``, or ``mne.create_info`` + ``set_montage``).
    centres_mm : ndarray, shape (n_regions, 3)
        Region centres (``Connectome.centres``).
    regions : list of str | None
        Region names.

    Returns
    -------
    leadfield : LeadField

    Examples
    --------
    >>> import mne, numpy as np
    >>> from neurotwin.io import standard_montage
    >>> from neurotwin.model import sphere_leadfield
    >>> info = mne.create_info(["Fz", "Cz", "Pz", "Oz", "T7", "T8"], 250.0, "eeg")
    >>> _ = info.set_montage(standard_montage())
    >>> lf = sphere_leadfield(info, np.array([[0.0, -90, 10], [0, 60, 20]]), ["occipital", "frontal"])
    >>> lf.gain.shape
    (6, 2)
    """
    picks = mne.pick_types(info, eeg=True, exclude=[])
    if len(picks) == 0:
        raise DataError("the lead field needs EEG channels.")
    eeg = mne.pick_info(info, picks)
    pos = np.array([ch["loc"][:3] for ch in eeg["chs"]])
    if not np.isfinite(pos).all() or np.allclose(pos, 0):
        raise DataError("EEG channels have no positions; set a montage first.")
    c = np.asarray(centres_mm, float)
    if c.ndim != 2 or c.shape[1] != 3 or not np.isfinite(c).all():
        raise DataError(f"centres must be a finite (n_regions, 3) array, got shape {c.shape}.")
    regions = list(regions) if regions is not None else [f"R{i + 1:03d}" for i in range(len(c))]
    with eeg._unlock():
        eeg["bads"] = []
        eeg["projs"] = []
    sphere = mne.make_sphere_model("auto", "auto", eeg, verbose="error")
    origin, radius = np.asarray(sphere["r0"]), sphere.radius
    rel = (c - c.mean(axis=0)) / 1000.0  # m
    scale = 0.8 * 0.9 * radius / max(np.linalg.norm(rel, axis=1).max(), 1e-9)  # inside the brain sphere
    rr = origin + rel * scale
    nn = rel / np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), 1e-12)
    nn[np.linalg.norm(rel, axis=1) < 1e-9] = (0.0, 0.0, 1.0)
    src = mne.setup_volume_source_space(pos={"rr": rr, "nn": nn}, sphere=sphere, verbose="error")
    fwd = mne.make_forward_solution(eeg, trans=None, src=src, bem=sphere, eeg=True, meg=False,
                                    verbose="error")
    if fwd["nsource"] != len(c):
        raise DataError(f"{len(c) - fwd['nsource']} region centres fall outside the head model.")
    free = fwd["sol"]["data"].reshape(len(picks), len(c), 3)
    gain = np.einsum("ckx,kx->ck", free, nn)  # radial orientation
    return LeadField(gain, [eeg.ch_names[i] for i in range(len(picks))], regions)
