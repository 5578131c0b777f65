"""The patient's own head: its FreeSurfer MRI folder, the head-to-MRI transform and the BEM.

A twin built on a template head (:mod:`.leadfield`) puts a template cortex
into a sphere fitted to the sensors. With the patient's own MRI the EEG/MEG
forward model is MNE's (:func:`mne.make_forward_solution`) in the patient's
own head: the boundary-element model of its ``bem/`` folder (a three-layer
one for EEG; MEG needs only the inner skull), else a sphere fitted to the
sensors as before; the recording's sensors placed by the study's
head-to-MRI transform (``*_trans.fif``, made with ``mne coreg``); and the
cortex fitted into the patient's own inner skull (:func:`fit_cortex`).

What is own and what is template is stated in the twin's state and report:
without FreeSurfer surfaces (``surf/``) of the patient, the cortical sheet
itself is TVB's template, moved into the patient's inner skull along the
MRI's axes to MNI space (``talairach.xfm``). The patient's own
segmentation (``aparc+aseg``) gives regions (:func:`parcellation`) when
the twin's connectome is in that parcellation.

The transform is checked against the recording before it is used
(:meth:`Anatomy.coregistration`): a transform made for another recording or
another person puts the electrodes off the scalp.

Examples
--------
>>> from neurotwin.model import Anatomy
>>> Anatomy("/data/derivatives/freesurfer", "sub-01", trans="/data/sub-01_trans.fif").to_dict()["subject"]
'sub-01'
"""

from __future__ import annotations

import glob
from dataclasses import asdict, dataclass
from pathlib import Path

import mne
import numpy as np

from ..errors import ConfigError, DataError, MissingFileError
from .leadfield import Cortex, LeadField

__all__ = ["Anatomy", "fit_cortex", "parcellation"]

#: an EEG electrode sits on the scalp: a median electrode-to-scalp distance above this (mm) means the
#: transform does not belong to the recording. Good coregistrations are within 2-5 mm (Whalen et al.
#: 2008); 10 mm is a round margin above that, not tuned to our data
MAX_ELECTRODE_SCALP_MM = 10.0
#: MEG features keep the sphere fitted to the head points, not the points: its upper half lies a
#: median 5 mm from the MNE sample person's scalp with its own transform, 26 mm with none (the
#: identity). A looser margin than the electrodes' (the head is not a sphere); a round number. It
#: catches a missing or grossly wrong transform, not one a centimetre off
MAX_SPHERE_SCALP_MM = 15.0
#: the template cortex fills this share of the inner skull's extent along each axis: the
#: cerebrospinal fluid between cortex and skull is a few mm (a brain of ~140 mm in a skull of ~150)
CORTEX_FILL = 0.92


@dataclass(frozen=True)
class Anatomy:
    """Where the patient's own head is: a FreeSurfer subject folder and the head-to-MRI transform.

    Parameters
    ----------
    subjects_dir : str
        The FreeSurfer ``SUBJECTS_DIR``.
    subject : str
        The subject's folder in it (``mri/``, ``bem/``; ``surf/`` if any).
    trans : str | None
        The head-to-MRI transform of the recordings (``*_trans.fif``, made
        with ``mne coreg``). Required for the lead field.
    bem : str | None
        A BEM solution (``*-bem-sol.fif``); default: the one in ``bem/``
        with the most layers, if any.

    Examples
    --------
    >>> from neurotwin.model import Anatomy
    >>> a = Anatomy.from_dict({"subjects_dir": "/fs", "subject": "sub-01", "trans": "t.fif"})
    >>> a.bem is None
    True
    """

    subjects_dir: str
    subject: str
    trans: str | None = None
    bem: str | None = None

    @classmethod
    def from_dict(cls, d: dict | Anatomy) -> Anatomy:
        """From :meth:`to_dict`'s dict (or an Anatomy, returned as is)."""
        if isinstance(d, Anatomy):
            return d
        if not isinstance(d, dict) or not {"subjects_dir", "subject"} <= set(d):
            raise ConfigError(f"anatomy needs subjects_dir and subject, got {d!r}.")
        unknown = set(d) - {"subjects_dir", "subject", "trans", "bem"}
        if unknown:
            raise ConfigError(f"unknown anatomy setting(s) {sorted(unknown)}.")
        return cls(**{k: None if v is None else str(v) for k, v in d.items()})

    def to_dict(self) -> dict:
        """The paths, as stored with the twin."""
        return asdict(self)

    @property
    def folder(self) -> Path:
        """The subject's FreeSurfer folder."""
        return Path(self.subjects_dir) / self.subject

    # ------------------------------------------------------------------ reading
    def head_to_mri(self) -> mne.transforms.Transform:
        """The head-to-MRI transform (:class:`mne.transforms.Transform`)."""
        if self.trans is None:
            raise ConfigError(
                f"the anatomy of {self.subject!r} has no head-to-MRI transform: give trans= "
                f"(a *_trans.fif made with 'mne coreg' for these recordings)."
            )
        if not Path(self.trans).is_file():
            raise MissingFileError(f"the head-to-MRI transform {self.trans} does not exist.")
        try:
            trans = mne.read_trans(self.trans)
        except (ValueError, RuntimeError, OSError) as err:
            raise DataError(f"{self.trans} is not a head-to-MRI transform MNE can read ({err}).") from err
        head, mri = mne.io.constants.FIFF.FIFFV_COORD_HEAD, mne.io.constants.FIFF.FIFFV_COORD_MRI
        if {trans["from"], trans["to"]} != {head, mri}:
            raise DataError(
                f"{self.trans} is not a head-to-MRI transform (it maps {trans.from_str} to "
                f"{trans.to_str}); give the one 'mne coreg' saves (*-trans.fif)."
            )
        if trans["from"] == mri:
            trans = mne.transforms.invert_transform(trans)
        return trans

    def _surface(self, names: tuple[str, ...], what: str) -> tuple[np.ndarray, Path]:
        """Vertices (m, MRI surface RAS) of the first of ``bem/<name>`` that exists, and its path."""
        for name in names:
            path = self.folder / "bem" / name.format(subject=self.subject)
            if path.is_file():
                if path.suffix == ".fif":
                    return np.asarray(mne.read_bem_surfaces(path, verbose="error")[0]["rr"], float), path
                return np.asarray(mne.read_surface(path)[0], float) / 1000.0, path
        raise MissingFileError(
            f"{self.folder / 'bem'} has no {what} surface ({', '.join(names)}); make the BEM "
            f"surfaces with 'mne watershed_bem' (or flash)."
        )

    def scalp(self) -> np.ndarray:
        """The scalp's vertices (m, MRI)."""
        names = ("{subject}-head.fif", "outer_skin.surf", "watershed/{subject}_outer_skin_surface")
        return self._surface(names, "scalp")[0]

    def inner_skull(self) -> tuple[np.ndarray, Path]:
        """The inner skull's vertices (m, MRI) and its file."""
        return self._surface(("inner_skull.surf", "watershed/{subject}_inner_skull_surface"), "inner skull")

    def bem_solution(self, eeg: bool):
        """The BEM solution to use (None: a sphere): three layers for EEG, any for MEG."""
        paths = [self.bem] if self.bem else sorted(glob.glob(str(self.folder / "bem" / "*-bem-sol.fif")))
        best = None
        for path in paths:
            if not Path(path).is_file():
                raise MissingFileError(f"the BEM solution {path} does not exist.")
            sol = mne.read_bem_solution(path, verbose="error")
            if (not eeg or len(sol["surfs"]) == 3) and (
                best is None or len(sol["surfs"]) > len(best["surfs"])
            ):
                best = sol
        return best

    def mri_to_mni(self) -> np.ndarray | None:
        """The linear part of the MRI-to-MNI (Talairach) transform, if ``mri/transforms`` has it."""
        try:
            return np.asarray(mne.read_talxfm(self.subject, self.subjects_dir)["trans"], float)[:3, :3]
        except (OSError, RuntimeError, ValueError):
            return None

    # ------------------------------------------------------------------ checks
    def coregistration(self, info: mne.Info, *, sphere=None, trans=None) -> dict:
        """How well the transform puts this recording's sensors on this MRI's head (or an error).

        EEG: the median distance of the electrodes to the scalp (mm). MEG:
        the median distance to the scalp of the upper half of the head
        sphere fitted to the recording's head points (``sphere``).

        ``trans`` is the transform when already read (default: :meth:`head_to_mri`).

        Raises
        ------
        DataError
            When the transform does not match the recording (beyond
            :data:`MAX_ELECTRODE_SCALP_MM` or :data:`MAX_SPHERE_SCALP_MM`).
        """
        from scipy.spatial import cKDTree

        trans = self.head_to_mri() if trans is None else trans
        scalp = self.scalp()
        eeg = mne.pick_types(info, eeg=True, meg=False, exclude=[])
        if len(eeg):
            pos = np.array([info["chs"][k]["loc"][:3] for k in eeg])
            pos = mne.transforms.apply_trans(trans, pos[np.isfinite(pos).all(axis=1)])
            dist = 1000.0 * float(np.median(cKDTree(scalp).query(pos)[0]))
            out = {"measure": "median electrode-to-scalp distance", "mm": round(dist, 1)}
            limit = MAX_ELECTRODE_SCALP_MM
        elif sphere is not None:
            x, y, z, radius = (float(v) for v in sphere)
            el, az = np.meshgrid(np.deg2rad([20, 40, 60, 80]), np.deg2rad(np.arange(0, 360, 30)))
            cap = np.c_[np.cos(el.ravel()) * np.cos(az.ravel()), np.cos(el.ravel()) * np.sin(az.ravel())]
            cap = np.c_[cap, np.sin(el.ravel())] * radius + (x, y, z)
            dist = 1000.0 * float(np.median(cKDTree(scalp).query(mne.transforms.apply_trans(trans, cap))[0]))
            out = {
                "measure": "median distance of the recording's head sphere (upper half) to the scalp",
                "mm": round(dist, 1),
            }
            limit = MAX_SPHERE_SCALP_MM
        else:
            return {"measure": "none (no head points to check the transform with)", "mm": None}
        if dist > limit:
            raise DataError(
                f"the transform {self.trans} does not match this recording: {out['measure']} is "
                f"{dist:.0f} mm (a good coregistration is within a few mm; over {limit:.0f} it belongs "
                f"to another recording or person). Make the transform for this recording with "
                f"'mne coreg' on {self.subject}'s MRI."
            )
        return out

    # ------------------------------------------------------------------ the lead field
    def segmentation(self) -> Path:
        """The subject's FreeSurfer segmentation: ``mri/aparc+aseg.mgz``, else ``mri/aseg.mgz``."""
        for name in ("aparc+aseg.mgz", "aseg.mgz"):
            if (self.folder / "mri" / name).is_file():
                return self.folder / "mri" / name
        raise MissingFileError(f"{self.folder / 'mri'} has no segmentation (aparc+aseg.mgz or aseg.mgz).")

    def region_sources(self, regions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One dipole per connectome region at its centroid in the subject's own parcellation.

        The regions are matched to the segmentation's cortical labels by name
        (``ctx-lh-precentral``, ``lh.precentral``, ``lh_precentral`` alike);
        each dipole points away from the inner skull's centre (radial, as
        :func:`~neurotwin.model.sphere_leadfield`'s). Regions the
        parcellation does not have (deep structures) get none.

        Returns
        -------
        rr, nn : ndarray, shape (n_matched, 3)
            Positions (m, MRI) and orientations.
        index : ndarray of int, shape (n_matched,)
            The connectome region of each dipole.
        """
        seg = self.segmentation()
        labels, centroids = parcellation(seg)
        own = {_region_key(lb): k for k, lb in enumerate(labels)}
        index = [(i, own[_region_key(r)]) for i, r in enumerate(regions) if _region_key(r) in own]
        if not index:
            raise DataError(
                f"none of the connectome's regions ({list(regions)[:3]}...) is a cortical label of "
                f"{seg} ({labels[:3]}...): the twin needs the connectome in the subject's own "
                f"parcellation, or TVB's template cortex (connectome='tvb76')."
            )
        rr = centroids[[k for _, k in index]] / 1000.0
        centre = self.inner_skull()[0].mean(axis=0)
        nn = rr - centre
        nn /= np.maximum(np.linalg.norm(nn, axis=1, keepdims=True), 1e-12)
        return rr, nn, np.array([i for i, _ in index])

    def leadfield(
        self, info: mne.Info, cortex: Cortex | None, regions, *, sphere=None
    ) -> tuple[LeadField, dict]:
        """Lead field of ``cortex`` (fitted into this head) to the sensors of ``info``, and what it used.

        Parameters
        ----------
        info : mne.Info
            EEG channels with positions (head frame), or MEG channels (then
            only those are taken) with their coils and ``dev_head_t``.
        cortex : Cortex | None
            The cortical sheet (:func:`~neurotwin.model.template_cortex`),
            fitted into the inner skull by :func:`fit_cortex`; None: one
            radial dipole per region at its centroid in the subject's own
            parcellation (:meth:`region_sources`; EEG only: MEG hardly sees
            radial dipoles).
        regions : list of str
            The connectome's region names.
        sphere : tuple | None
            MEG: the head sphere fitted to the recording's head points (the
            head model without a BEM, and the coregistration check).

        Returns
        -------
        leadfield : LeadField
        used : dict
            The anatomy's parts: subject, BEM (or sphere), the transform's
            coregistration check, the cortex and how many of its vertices
            fell outside the inner skull (dropped).
        """
        from ..features.sensors import DEFAULT_SPHERE
        from .leadfield import _head

        sensors, sph, meg = _head(info, sphere if sphere is not None else DEFAULT_SPHERE)
        if cortex is None and meg:  # (before any file is read)
            raise ConfigError(
                "an MEG twin in the subject's own parcellation would need dipoles on its own "
                "cortical surfaces (MEG hardly sees radial dipoles at region centroids); use "
                "TVB's template cortex (connectome='tvb76')."
            )
        trans = self.head_to_mri()
        coreg = self.coregistration(sensors, sphere=sphere, trans=trans)
        bem = self.bem_solution(eeg=not meg)
        if bem is not None:  # the conductor's own inner skull (a coarse BEM's lies inside the fine surface)
            brain = mne.io.constants.FIFF.FIFFV_BEM_SURF_ID_BRAIN
            surf = next(s for s in bem["surfs"] if s["id"] == brain)
            inside = (np.asarray(surf["rr"], float), np.asarray(surf["tris"], int))
        else:  # the sphere's brain shell (its innermost layer), in the MRI frame
            k = np.arange(500) + 0.5
            polar, azimuth = np.arccos(1 - 2 * k / 500), np.pi * (1 + 5**0.5) * k
            unit = np.c_[np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)]
            r0, rad = np.asarray(sph["r0"], float), float(sph["layers"][0]["rad"])
            inside = mne.transforms.apply_trans(trans, r0 + 0.97 * rad * unit)
        if cortex is not None:
            rr, nn = fit_cortex(cortex, self.inner_skull()[0], self.mri_to_mni(), inside)
            region, weight = cortex.region, cortex.vertex_areas() / 100.0  # cm²
            what = f"{cortex.name} fitted into {self.subject}'s inner skull"
        else:
            rr, nn, region = self.region_sources(regions)
            weight = np.ones(len(rr))
            what = f"radial dipoles at the centroids of {self.subject}'s {self.segmentation().name} regions"
        head_t = mne.transforms.invert_transform(trans)
        nn_head = mne.transforms.apply_trans(head_t, nn, move=False)  # the forward solution's frame
        if bem is None:  # MNE checks a sphere (head frame) against sources it moved to the MRI frame, so a
            # sphere model gets its sources in the head frame, with no transform left to apply
            rr, nn, fwd_trans = mne.transforms.apply_trans(head_t, rr), nn_head, None
        else:
            fwd_trans = trans
        src = mne.setup_volume_source_space(pos={"rr": rr, "nn": nn}, mindist=0.0, verbose="error")
        try:
            fwd = mne.make_forward_solution(
                sensors,
                trans=fwd_trans,
                src=src,
                bem=bem if bem is not None else sph,
                eeg=not meg,
                meg=meg,
                verbose="error",
            )
        except RuntimeError as err:
            raise DataError(f"MNE's forward model refused {self.subject}'s head ({err}).") from err
        inuse = np.asarray(fwd["src"][0]["vertno"])  # MNE leaves out sources outside the inner skull
        free = fwd["sol"]["data"].reshape(len(sensors.ch_names), len(inuse), 3)
        vert = np.einsum("ckx,kx->ck", free, nn_head[inuse]) * weight[inuse]
        regions = list(regions)
        gain = np.zeros((len(sensors.ch_names), len(regions)))
        np.add.at(gain.T, region[inuse], vert.T)
        if bem is not None:
            head = f"BEM ({len(bem['surfs'])} layer{'s' if len(bem['surfs']) > 1 else ''})"
        else:
            head = "sphere fitted to the sensors' head" + ("" if not meg else " points")
        used = {
            "subject": self.subject,
            "head_model": head,
            "coregistration": coreg,
            "cortex": what,
            "vertices_outside": int(len(rr) - len(inuse)),
        }
        return LeadField(gain, list(sensors.ch_names), regions), used


def fit_cortex(cortex: Cortex, inner_skull: np.ndarray, mri_to_mni: np.ndarray | None = None, inside=None):
    """A template cortex moved into a patient's inner skull: vertices and normals (m, MRI frame).

    In the template's (MNI-aligned) axes — the patient's inner skull is
    rotated into them by the linear part of its MRI-to-MNI transform when
    given — the cortex's bounding box is centred on the inner skull's and
    scaled along each axis to :data:`CORTEX_FILL` of its extent, then
    rotated back; vertices still outside the skull's convex hull are pulled
    towards its centre until inside. Normals follow the inverse transpose
    of the affine map. Written
    here because MNE morphs surfaces only between FreeSurfer subjects (which
    needs the patient's own ``surf/``).

    Parameters
    ----------
    cortex : Cortex
        Vertices and normals in RAS mm.
    inner_skull : ndarray, shape (V, 3)
        The patient's inner skull vertices (m, MRI surface RAS).
    mri_to_mni : ndarray, shape (3, 3) | None
        The linear part of the patient's MRI-to-MNI transform.
    inside : ndarray, shape (P, 3) | tuple of (ndarray, ndarray) | None
        The head model's innermost boundary (m, MRI), which the vertices
        must lie in: a closed surface ``(points, triangles)`` (a coarse
        BEM's inner skull, which lies inside the fine one), or points whose
        convex hull it is (a sphere's brain shell); default ``inner_skull``.

    Returns
    -------
    rr, nn : ndarray, shape (n_vertices, 3)

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.model import Cortex, fit_cortex
    >>> v = np.array([[-70.0, 0, 0], [70, 0, 0], [0, -90, 0], [0, 90, 0], [0, 0, -60], [0, 0, 60]])
    >>> cx = Cortex(v, v / np.linalg.norm(v, axis=1, keepdims=True), np.array([[0, 1, 2]]), np.zeros(6, int))
    >>> rr, nn = fit_cortex(cx, v / 1000 * 1.1)
    >>> bool(np.abs(rr).max() < 0.1)
    True
    """
    from scipy.spatial import Delaunay

    rot = np.eye(3) if mri_to_mni is None else np.asarray(mri_to_mni, float)
    skull = np.asarray(inner_skull, float) @ rot.T
    v = np.asarray(cortex.vertices, float) / 1000.0
    half_c = (v.max(axis=0) - v.min(axis=0)) / 2
    half_s = (skull.max(axis=0) - skull.min(axis=0)) / 2
    scale = CORTEX_FILL * half_s / np.maximum(half_c, 1e-9)
    mid_c = (v.max(axis=0) + v.min(axis=0)) / 2
    mid_s = (skull.max(axis=0) + skull.min(axis=0)) / 2
    rr = np.linalg.solve(rot, ((v - mid_c) * scale + mid_s).T).T
    nn = (np.asarray(cortex.normals, float) / scale) @ rot  # inverse transpose of rot⁻¹ · diag(scale)
    nn /= np.maximum(np.linalg.norm(nn, axis=1, keepdims=True), 1e-12)
    # a box does not follow the skull's curves: vertices left outside it (the temporal and occipital
    # poles) are pulled towards its centre, 1 % of their distance at a time, until they are inside
    if isinstance(inside, tuple):
        bound, tris = np.asarray(inside[0], float), np.asarray(inside[1], int)
        outside = lambda x: ~_inside_surface(bound, tris, x)  # noqa: E731
    else:
        bound = np.asarray(inner_skull if inside is None else inside, float)
        hull = Delaunay(bound)
        outside = lambda x: hull.find_simplex(x) < 0  # noqa: E731
    centre = bound.mean(axis=0)
    out = np.flatnonzero(outside(rr))
    for _ in range(60):
        if not len(out):
            break
        rr[out] = centre + (rr[out] - centre) * 0.99
        out = out[outside(rr[out])]
    return rr, nn


def _inside_surface(rr: np.ndarray, tris: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Whether points are inside a closed triangulated surface: the solid angle it subtends is 4π
    inside and 0 outside (Van Oosterom & Strackee 1983), whatever its convexity or orientation.

    Only the points in the shell between the largest ball around the vertices' mean that no
    triangle's plane cuts (inside) and the farthest vertex (outside beyond it) are summed over.
    """
    centre = rr.mean(axis=0)
    a, b, c = rr[tris[:, 0]], rr[tris[:, 1]], rr[tris[:, 2]]
    normal = np.cross(b - a, c - a)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-300)
    inner = float(np.min(np.abs(np.einsum("tx,tx->t", a - centre, normal))))
    outer = float(np.max(np.linalg.norm(rr - centre, axis=1)))
    dist = np.linalg.norm(points - centre, axis=1)
    inside = dist < inner
    shell = np.flatnonzero((dist >= inner) & (dist <= outer))
    if len(shell):
        inside[shell] = _solid_angle_inside(rr, tris, points[shell])
    return inside


def _solid_angle_inside(rr: np.ndarray, tris: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The solid-angle test of :func:`_inside_surface` for every point."""
    total = np.zeros(len(points))
    for start in range(0, len(tris), 64):
        tri = rr[tris[start : start + 64]]  # (T, 3, 3)
        v = tri[None] - points[:, None, None, :]  # (P, T, 3, 3)
        n = np.linalg.norm(v, axis=-1)
        a, b, c = v[..., 0, :], v[..., 1, :], v[..., 2, :]
        na, nb, nc = n[..., 0], n[..., 1], n[..., 2]
        num = np.einsum("ptx,ptx->pt", a, np.cross(b, c))
        den = na * nb * nc + np.einsum("ptx,ptx->pt", a, b) * nc
        den += np.einsum("ptx,ptx->pt", a, c) * nb + np.einsum("ptx,ptx->pt", b, c) * na
        total += 2 * np.arctan2(num, den).sum(axis=1)
    return np.abs(total) > 2 * np.pi


def _region_key(name: str) -> str:
    """A region name compared across conventions (``ctx-lh-precentral``, ``lh.precentral``)."""
    key = str(name).lower().replace("ctx-", "").replace("ctx_", "")
    return key.replace(".", "-").replace("_", "-")


def parcellation(path) -> tuple[list[str], np.ndarray]:
    """The cortical regions of a FreeSurfer segmentation and their centroids (MRI surface RAS, mm).

    Parameters
    ----------
    path : path-like
        A labelled volume with FreeSurfer's colour table (``aparc+aseg``,
        ``aparc.a2009s+aseg``).

    Returns
    -------
    labels : list of str
        The cortical labels present (``ctx-lh-*``, ``ctx_lh_*``...).
    centroids : ndarray, shape (n_labels, 3)

    Raises
    ------
    DataError
        When the segmentation has no cortical labels (e.g. ``aseg``, whose
        cortex is one label per hemisphere).

    Examples
    --------
    >>> from neurotwin.model import parcellation
    >>> parcellation("/nonexistent/aparc+aseg.mgz")
    Traceback (most recent call last):
    ...
    neurotwin.errors.MissingFileError: the segmentation /nonexistent/aparc+aseg.mgz does not exist.
    """
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"the segmentation {path} does not exist.")
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj).astype(int)
    except Exception as err:  # nibabel raises many types on damaged files
        raise DataError(f"{path} cannot be read as an image ({type(err).__name__}: {err}).") from err
    lut = mne.read_freesurfer_lut()[0]
    names = {v: k for k, v in lut.items()}
    present = [
        int(x) for x in np.unique(data) if int(x) in names and names[int(x)].startswith(("ctx-", "ctx_"))
    ]
    present = [x for x in present if not names[x].endswith(("unknown", "corpuscallosum"))]
    if not present:
        raise DataError(
            f"the segmentation {path} has no cortical labels (aseg has one cortex label per "
            f"hemisphere); the twin's regions need a cortical parcellation: FreeSurfer's "
            f"aparc+aseg.mgz (recon-all makes it)."
        )
    vox2ras = img.header.get_vox2ras_tkr() if hasattr(img.header, "get_vox2ras_tkr") else img.affine
    from scipy.ndimage import center_of_mass

    centroids = np.array(center_of_mass(np.ones(data.shape), labels=data, index=present))
    centroids = centroids @ np.asarray(vox2ras)[:3, :3].T + np.asarray(vox2ras)[:3, 3]
    return [names[x] for x in present], centroids
