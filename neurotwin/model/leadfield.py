"""EEG/MEG observation: a lead field from the regions to the patient's sensors, built offline.

MNE builds the forward model: a spherical head (``make_sphere_model``)
fitted to the electrode positions, and one dipole at each region centre,
oriented radially (from the sphere's centre: how large pools of cortical
pyramidal cells project to the scalp to a first approximation) or along the
connectome's own mean cortical normals when it has them. The connectome's
centres (template space, mm) are moved into the head sphere by an affine
fit: centred on the sphere's origin and scaled so the outermost centre lies
at 80 % of the brain radius. It is a generic head,
not the patient's anatomy (no MRI/BEM needed, nothing downloaded).
:func:`cortical_leadfield` places dipoles on the template cortical surface
instead, normal to it, which is what MEG needs (it is blind to radial
dipoles in a sphere; at region centres it needs their orientations);
there the MEG sensors' own coil definitions and device-to-head transform
go into MNE's forward model.
"""

from __future__ import annotations

from dataclasses import dataclass

import mne
import numpy as np

from .._validation import did_you_mean
from ..errors import DataError
from ..io.channels import standard_montage

__all__ = ["Cortex", "LeadField", "cortical_leadfield", "sphere_leadfield", "template_cortex"]


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
            raise DataError(
                f"channel(s) {missing[:5]} are not in the lead field (it has "
                f"{len(self.ch_names)} channels).{did_you_mean(str(missing[0]), self.ch_names)}"
            )
        idx = [self.ch_names.index(c) for c in ch_names]
        return LeadField(self.gain[idx], list(ch_names), list(self.regions))

    def project(self, activity: np.ndarray) -> np.ndarray:
        """EEG from region activity ``(..., n_times, n_regions)`` -> ``(..., n_times, n_channels)``."""
        activity = np.asarray(activity, float)
        if activity.shape[-1] != len(self.regions):
            raise DataError(f"activity has {activity.shape[-1]} regions; the lead field {len(self.regions)}.")
        return activity @ self.gain.T


#: fewer EEG channels than this get the template head's sphere instead of one fitted to them
_MIN_FIT_CHANNELS = 8


def _template_sphere():
    montage = standard_montage()
    info = mne.create_info(montage.ch_names, 1000.0, "eeg")
    info.set_montage(montage, verbose="error")
    return mne.make_sphere_model("auto", "auto", info, verbose="error")


def sphere_leadfield(
    info: mne.Info, centres_mm, regions=None, orientations=None, *, sphere=None
) -> LeadField:
    """Lead field of dipoles at region centres in a sphere head: radial, or along given orientations.

    With fewer than 8 electrodes (e.g. two frontal channels) no head can be
    fitted to them; the sphere of MNE's template 10-05 head is used. With
    the regions' own orientations (a connectome's mean cortical normals,
    TVB's ``average_orientations``) the dipoles point along them (the
    centres are moved into the head without rotation, so they keep their
    direction), and MEG sensors are possible too: MEG sees their
    tangential part, where radial dipoles would be invisible to it.

    Parameters
    ----------
    info : mne.Info
        The patient's EEG channels with positions (e.g. a recording's
        ``raw.info``, or ``mne.create_info`` + ``set_montage``).
    centres_mm : ndarray, shape (n_regions, 3)
        Region centres (``Connectome.centres``).
    regions : list of str | None
        Region names.
    orientations : array, shape (n_regions, 3) | None
        Each dipole's direction (``Connectome.orientations``); None: radial.
    sphere : tuple | None
        MEG only: the head sphere ``(x, y, z, radius)`` (head frame, m).

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
    eeg, sphere, meg = _head(info, sphere)
    if meg and orientations is None:
        raise DataError(
            "radial dipoles at region centres are invisible to MEG; give the regions' orientations "
            "(a connectome with average_orientations) or use cortical_leadfield."
        )
    pos = np.array([ch["loc"][:3] for ch in eeg["chs"]])
    if not meg and (not np.isfinite(pos).all() or np.allclose(pos, 0)):
        raise DataError("EEG channels have no positions; set a montage first.")
    c = np.asarray(centres_mm, float)
    if c.ndim != 2 or c.shape[1] != 3 or not np.isfinite(c).all():
        raise DataError(f"centres must be a finite (n_regions, 3) array, got shape {c.shape}.")
    regions = list(regions) if regions is not None else [f"R{i + 1:03d}" for i in range(len(c))]
    origin, radius = np.asarray(sphere["r0"]), sphere.radius
    rel = (c - c.mean(axis=0)) / 1000.0  # m
    scale = 0.8 * 0.9 * radius / max(np.linalg.norm(rel, axis=1).max(), 1e-9)  # inside the brain sphere
    rr = origin + rel * scale
    if orientations is None:  # radial
        nn = rel / np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), 1e-12)
        nn[np.linalg.norm(rel, axis=1) < 1e-9] = (0.0, 0.0, 1.0)
    else:
        nn = np.asarray(orientations, float)
        if nn.shape != c.shape or not np.isfinite(nn).all():
            raise DataError(f"orientations must be a finite {c.shape} array, got shape {nn.shape}.")
        nn = nn / np.maximum(np.linalg.norm(nn, axis=1, keepdims=True), 1e-12)
    gain = _oriented_gain(eeg, sphere, rr, nn, "region centres", meg)
    return LeadField(gain, list(eeg.ch_names), regions)


def _head(info: mne.Info, sphere=None):
    """The sensors of ``info`` (no bads, no projections), the sphere head model for them, and whether
    they are MEG.

    EEG: a sphere fitted to the electrodes (the template head's with fewer than 8). MEG (when ``info``
    has MEG channels, which are then the only ones taken): the sphere ``(x, y, z, radius)`` in the head
    frame given by the caller, fitted to the head points when the recording had them
    (:func:`neurotwin.features.sensors.head_sphere`).
    """
    meg = mne.pick_types(info, meg=True, ref_meg=False, exclude=[])
    if len(meg):
        picks, is_meg = meg, True
    else:
        picks, is_meg = mne.pick_types(info, eeg=True, exclude=[]), False
    if len(picks) == 0:
        raise DataError("the lead field needs EEG or MEG channels.")
    sensors = mne.pick_info(info, picks)
    with sensors._unlock():
        sensors["bads"] = []
        sensors["projs"] = []
        sensors["comps"] = []
    if is_meg:
        if sphere is None:
            raise DataError("an MEG lead field needs the head sphere (origin and radius).")
        x, y, z, radius = (float(v) for v in sphere)
        return sensors, mne.make_sphere_model((x, y, z), radius, verbose="error"), True
    if len(picks) >= _MIN_FIT_CHANNELS:
        return sensors, mne.make_sphere_model("auto", "auto", sensors, verbose="error"), False
    return sensors, _template_sphere(), False  # too few points to fit a head: the template 10-05 head's


def _oriented_gain(sensors: mne.Info, sphere, rr: np.ndarray, nn: np.ndarray, what: str, meg: bool = False):
    """MNE's forward solution (EEG or MEG) of dipoles at ``rr`` (m) oriented along ``nn``: ``(C, n)``."""
    src = mne.setup_volume_source_space(pos={"rr": rr, "nn": nn}, sphere=sphere, verbose="error")
    fwd = mne.make_forward_solution(
        sensors, trans=None, src=src, bem=sphere, eeg=not meg, meg=meg, verbose="error"
    )
    if fwd["nsource"] != len(rr):
        raise DataError(f"{len(rr) - fwd['nsource']} {what} fall outside the head model.")
    free = fwd["sol"]["data"].reshape(len(sensors.ch_names), len(rr), 3)
    return np.einsum("ckx,kx->ck", free, nn)


@dataclass(frozen=True)
class Cortex:
    """A cortical surface with a region per vertex (RAS, mm).

    Attributes
    ----------
    vertices, normals : ndarray, shape (V, 3)
    triangles : ndarray, shape (T, 3)
    region : ndarray of int, shape (V,)
        The connectome region of each vertex.
    name : str
    """

    vertices: np.ndarray
    normals: np.ndarray
    triangles: np.ndarray
    region: np.ndarray
    name: str = ""

    def vertex_areas(self) -> np.ndarray:
        """A third of the area of every triangle a vertex belongs to (mm²)."""
        v = self.vertices[self.triangles]
        area = 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
        out = np.zeros(len(self.vertices))
        for k in range(3):
            np.add.at(out, self.triangles[:, k], area / 3)
        return out


def template_cortex(tvb_data, n_regions: int = 76) -> Cortex:
    """TVB's 16,384-vertex template cortex and its 76-region mapping, in RAS (from ``tvb-data``).

    Parameters
    ----------
    tvb_data : path
        The ``tvb_data`` folder (``surfaceData/cortex_16384.zip``,
        ``regionMapping/regionMapping_16k_76.txt``).
    n_regions : int
        The connectome the mapping refers to (only 76 ships).

    Returns
    -------
    cortex : Cortex

    Examples
    --------
    >>> from neurotwin.model.leadfield import template_cortex
    >>> template_cortex("/nonexistent")
    Traceback (most recent call last):
    ...
    neurotwin.errors.DataError: the template cortex is not in /nonexistent: ...
    """
    import zipfile
    from pathlib import Path

    from .connectome import tvb_to_ras

    root = Path(tvb_data)
    surf = root / "surfaceData" / "cortex_16384.zip"
    mapping = root / "regionMapping" / f"regionMapping_16k_{n_regions}.txt"
    if not surf.is_file() or not mapping.is_file():
        raise DataError(
            f"the template cortex is not in {root}: it needs {surf.name} and {mapping.name} "
            f"(the 'tvb-data' package)."
        )
    with zipfile.ZipFile(surf) as z:
        vertices = np.loadtxt(z.open("vertices.txt"))
        normals = np.loadtxt(z.open("vertex_normals.txt"))
        triangles = np.loadtxt(z.open("triangles.txt"), dtype=int)
    region = np.loadtxt(mapping, dtype=int)
    if len(region) != len(vertices) or region.max() >= n_regions or region.min() < 0:
        raise DataError(f"{mapping} does not map the {len(vertices)} vertices to {n_regions} regions.")
    return Cortex(tvb_to_ras(vertices), tvb_to_ras(normals), triangles, region, f"tvb cortex 16k/{n_regions}")


def cortical_leadfield(info: mne.Info, cortex: Cortex, regions, *, sphere=None) -> LeadField:
    """Lead field of dipoles normal to a cortical surface, summed per region, in a sphere head (EEG or MEG).

    Each vertex carries a dipole normal to the surface with a moment
    proportional to its share of the surface area (pyramidal cells are
    normal to the cortex: Nunez & Srinivasan 2006); MNE computes the EEG
    forward solution of every vertex in a three-shell sphere fitted to the
    electrodes (``make_sphere_model``), and a region's gain is the sum over
    its vertices — so sulcal walls facing each other cancel, as they do in
    real EEG. The template surface is moved into the head by scaling each
    axis to fill the inner skull (95 % of its radius), normals transformed
    accordingly. Regions without vertices (deep structures) get no gain.

    Parameters
    ----------
    info : mne.Info
        EEG channels with positions, or MEG channels (then only those are
        taken) with their coil definitions and ``dev_head_t``: MEG sees the
        sources' tangential part, which radial dipoles at region centres
        would not have.
    cortex : Cortex
        E.g. :func:`template_cortex`.
    regions : list of str
        The connectome's region names (``cortex.region`` indexes them).
    sphere : tuple | None
        MEG only: the head sphere ``(x, y, z, radius)`` (head frame, m).

    Returns
    -------
    leadfield : LeadField
    """
    eeg, sphere, meg = _head(info, sphere)
    regions = list(regions)
    if cortex.region.max() >= len(regions):
        raise DataError(
            f"the cortex maps vertices to {cortex.region.max() + 1} regions; the connectome has "
            f"{len(regions)}."
        )
    origin = np.asarray(sphere["r0"])
    inner = sphere["layers"][0]["rad"]  # the innermost shell (brain), m
    v = cortex.vertices / 1000.0
    mid = (v.max(axis=0) + v.min(axis=0)) / 2
    scale = 0.95 * inner / ((v.max(axis=0) - v.min(axis=0)) / 2)
    rr = (v - mid) * scale
    norm = np.linalg.norm(rr, axis=1).max()
    if norm > 0.95 * inner:  # the box's fill put some vertices outside the shell: shrink uniformly
        rr *= 0.95 * inner / norm
        scale = scale * 0.95 * inner / norm
    rr = origin + rr
    nn = cortex.normals / scale  # normals transform by the inverse (transpose) of a diagonal map
    nn /= np.maximum(np.linalg.norm(nn, axis=1, keepdims=True), 1e-12)
    area = cortex.vertex_areas() / 100.0  # cm²
    vert = _oriented_gain(eeg, sphere, rr, nn, "cortex vertices", meg) * area
    gain = np.zeros((len(eeg.ch_names), len(regions)))
    np.add.at(gain.T, cortex.region, vert.T)
    return LeadField(gain, list(eeg.ch_names), regions)
