"""MRI steps: reorientation, regional volumes, BOLD parcellation and cleaning.

nibabel does the image work (canonical reorientation, resampling of the
label volume to the BOLD grid), NumPy the per-label sums (``bincount``:
one pass over the voxels, whatever the number of regions) and nilearn's
``signal.clean`` the confound regression and filtering of the region
time series.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

import nibabel as nib
import numpy as np
import pandas as pd
from pydantic import Field
from scipy import sparse

from ..._logging import logger
from ...errors import DataError
from ...io.mri import freesurfer_lut, repetition_time
from ...io.timeseries import RegionTimeseries
from ._base import Step

#: FreeSurfer label ids of the nuisance compartments
NUISANCE_LABELS = {
    "wm": (2, 41, 7, 46, 77, 251, 252, 253, 254, 255),  # cerebral + cerebellar WM, hypointensities, CC
    "csf": (4, 5, 43, 44, 14, 15, 24),  # ventricles, CSF
}


def label_names(labels_path: str | os.PathLike | None, ids) -> dict[int, str]:
    """Names of label ids: a BIDS ``_dseg.tsv`` next to the volume, else FreeSurfer's LUT.

    Examples
    --------
    >>> from neurotwin.pipeline.steps.mri import label_names
    >>> label_names(None, [17, 53, 9999])
    {17: 'Left-Hippocampus', 53: 'Right-Hippocampus', 9999: 'label-9999'}
    """
    table = {}
    if labels_path is not None:
        path = Path(labels_path)
        stem = path.name.split(".")[0]
        tsv = path.with_name(stem + ".tsv")
        if tsv.is_file():
            df = pd.read_csv(tsv, sep="\t")
            if {"index", "name"} <= set(df.columns):
                table = dict(zip(df["index"].astype(int), df["name"].astype(str)))
    lut = freesurfer_lut() if not table else {}
    return {int(i): table.get(int(i)) or lut.get(int(i)) or f"label-{int(i)}" for i in ids}


def _label_array(img) -> np.ndarray:
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DataError(f"a label volume must be 3-D; this one has shape {data.shape}.")
    if not np.issubdtype(data.dtype, np.integer):
        rounded = np.rint(data)
        if not np.allclose(rounded, data):
            raise DataError("the label volume holds non-integer values: it is an image, not labels.")
        data = rounded
    return data.astype(np.int64)


class Reorient(Step):
    """Reorient a volume to the closest canonical (RAS+) orientation (nibabel).

    Examples
    --------
    >>> import nibabel as nib, numpy as np
    >>> from neurotwin.pipeline.steps import Reorient
    >>> img = nib.Nifti1Image(np.zeros((2, 3, 4), "f4") + 1, np.diag([-1, 1, 1, 1]))
    >>> nib.aff2axcodes(Reorient().apply(img).affine)
    ('R', 'A', 'S')
    """

    step: Literal["reorient"] = "reorient"
    accepts: ClassVar[tuple[str, ...]] = ("image",)

    def apply(self, img, log=None):
        before = "".join(nib.aff2axcodes(img.affine))
        out = nib.as_closest_canonical(img)
        if log is not None:
            log.update(orientation_before=before, orientation_after="".join(nib.aff2axcodes(out.affine)))
        return out


def _intensity(lab_img, lab: np.ndarray, image, ids: list[int]) -> pd.DataFrame:
    """Mean, SD and median of ``image`` within each label (resampled to the label grid if needed)."""
    from scipy import ndimage

    if image.shape[:3] != lab.shape or not np.allclose(image.affine, lab_img.affine, atol=1e-3):
        from nibabel.processing import resample_from_to

        image = resample_from_to(image, (lab.shape, lab_img.affine), order=1)
    values = np.asarray(image.dataobj, dtype=float)
    if values.ndim != 3:
        raise DataError(f"intensity statistics need a 3-D image, got shape {values.shape}.")
    with np.errstate(invalid="ignore", divide="ignore"):  # SciPy divides for absent labels too
        return pd.DataFrame(
            {
                "intensity_mean": ndimage.mean(values, lab, ids),
                "intensity_sd": ndimage.standard_deviation(values, lab, ids),
                "intensity_median": ndimage.median(values, lab, ids),
            }
        )


def boundary_counts(lab: np.ndarray, size: int) -> np.ndarray:
    """How many of each label's voxels are on its boundary (a face-neighbour of another label).

    A voxel on the image's faces counts as boundary too (what lies beyond
    the field of view is unknown). One pass a axis (``np.diff``), whatever
    the number of labels.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.pipeline.steps.mri import boundary_counts
    >>> lab = np.zeros((5, 5, 5), int); lab[1:4, 1:4, 1:4] = 3
    >>> int(boundary_counts(lab, 4)[3])  # a 3x3x3 cube: all but its centre
    26
    """
    edge = np.zeros(lab.shape, bool)
    for ax in range(lab.ndim):
        step = np.diff(lab, axis=ax) != 0
        lo = [slice(None)] * lab.ndim
        hi = list(lo)
        lo[ax], hi[ax] = slice(None, -1), slice(1, None)
        edge[tuple(lo)] |= step
        edge[tuple(hi)] |= step
        for face in (0, -1):
            at = [slice(None)] * lab.ndim
            at[ax] = face
            edge[tuple(at)] = True
    keep = edge & (lab >= 0)
    return np.bincount(lab[keep].ravel(), minlength=size)


class RegionalVolumes(Step):
    """Volume (mm³), voxel count and boundary voxel count of every label of a label volume.

    ``n_boundary`` (voxels with a face-neighbour of another label) is what
    the ``volumes`` feature's measurement SE comes from: a hard label counts
    each boundary voxel wholly in or out of its region.

    Names come from a BIDS ``_dseg.tsv`` beside the file, else from
    FreeSurfer's colour table (``aseg``/``aparc+aseg``). With
    ``intensity = "T1w"``, the mean, SD and median of the subject's T1w
    image within each label are added (the image is resampled to the
    label grid when they differ).

    Examples
    --------
    >>> import nibabel as nib, numpy as np
    >>> from neurotwin.pipeline.steps import RegionalVolumes
    >>> lab = np.zeros((4, 4, 4), "i2"); lab[:2] = 17; lab[2:, :1] = 53
    >>> table = RegionalVolumes().apply(nib.Nifti1Image(lab, np.diag([2, 2, 2, 1])))
    >>> table[["name", "n_voxels", "n_boundary", "volume_mm3"]].to_dict("records")[0]
    {'name': 'Left-Hippocampus', 'n_voxels': 32, 'n_boundary': 32, 'volume_mm3': 256.0}
    """

    step: Literal["regional_volumes"] = "regional_volumes"
    accepts: ClassVar[tuple[str, ...]] = ("image",)
    produces: ClassVar[str | None] = "table"
    out_suffix: ClassVar[str | None] = "morph"
    exclude: list[int] = Field(default_factory=lambda: [0])
    intensity: str | None = None

    def find_inputs(self, path, subject, session, study) -> dict:
        found = {"source": Path(path)}
        if self.intensity:
            rows = study.select(subject=subject, datatype="anat")
            rows = rows[rows["suffix"] == self.intensity]
            if rows.empty:
                raise DataError(
                    f"regional_volumes: sub-{subject} has no anat/*_{self.intensity} image for "
                    f"intensity statistics; remove 'intensity' or add the image."
                )
            same = rows[rows["session"] == session] if session else rows.iloc[0:0]
            found["image"] = Path((same if not same.empty else rows).iloc[0]["path"])
        return found

    def apply(self, img, log=None, source: Path | None = None, image: Path | None = None):
        lab = _label_array(img)
        counts = np.bincount(lab[lab >= 0].ravel())
        ids = [i for i in np.flatnonzero(counts) if i not in self.exclude]
        if not ids:
            raise DataError("regional_volumes: the label volume holds no labels besides those excluded.")
        voxel = float(np.prod(img.header.get_zooms()[:3]))
        names = label_names(source, ids)
        table = pd.DataFrame(
            {
                "index": ids,
                "name": [names[i] for i in ids],
                "n_voxels": counts[ids].astype(int),
                "n_boundary": boundary_counts(lab, len(counts))[ids].astype(int),
                "volume_mm3": counts[ids] * voxel,
            }
        )
        if image is not None:
            table = table.join(_intensity(img, lab, nib.load(image), ids))
        if log is not None:
            log.update(n_labels=len(ids), voxel_mm3=voxel)
        return table


class Parcellate(Step):
    """Average a 4-D BOLD series within each region of a label volume.

    Parameters
    ----------
    labels : str
        ``"dseg"``: the subject's label volume from the study (``anat``,
        suffix ``dseg``, same session preferred); or a path to a label
        volume (relative paths: from the study root).
    confounds : list of str
        Nuisance signals to extract as well: ``global`` (all labelled
        voxels), ``wm``, ``csf`` (FreeSurfer compartments).
    min_voxels : int
        Regions with fewer voxels in the BOLD grid are dropped (logged).

    The label volume is resampled to the BOLD grid (nearest neighbour)
    when their grids differ. Nuisance compartments are not regions.
    """

    step: Literal["parcellate"] = "parcellate"
    accepts: ClassVar[tuple[str, ...]] = ("image",)
    produces: ClassVar[str | None] = "timeseries"
    labels: str = "dseg"
    confounds: list[Literal["global", "wm", "csf"]] = Field(default_factory=lambda: ["global", "wm", "csf"])
    min_voxels: int = Field(1, ge=1)

    def find_inputs(self, path, subject, session, study) -> dict:
        if self.labels != "dseg":
            lab = Path(self.labels)
            lab = lab if lab.is_absolute() else Path(study.root) / lab
            if not lab.is_file():
                raise DataError(f"parcellate: label volume {lab} does not exist.")
            return {"labels": lab}
        rows = study.select(subject=subject, datatype="anat")
        rows = rows[rows["suffix"] == "dseg"]
        if rows.empty:
            raise DataError(
                f"parcellate: sub-{subject} has no label volume (anat/*_dseg); add one or give "
                f"labels = 'path/to/atlas.nii.gz' in the pipeline file."
            )
        same = rows[rows["session"] == session] if session else rows.iloc[0:0]
        return {"labels": Path((same if not same.empty else rows).iloc[0]["path"])}

    def apply(self, img, log=None, labels: Path | None = None):
        if img.ndim != 4:
            raise DataError(f"parcellate: needs a 4-D BOLD series; this image is {img.ndim}-D.")
        if labels is None:
            raise DataError("parcellate: no label volume found for this recording.")
        lab_img = nib.load(labels)
        if lab_img.shape[:3] != img.shape[:3] or not np.allclose(lab_img.affine, img.affine, atol=1e-3):
            from nibabel.processing import resample_from_to

            lab_img = resample_from_to(lab_img, (img.shape[:3], img.affine), order=0)
        lab = _label_array(lab_img).ravel()
        tr = repetition_time(img)  # the header's unit, float32 pixdim rounded (one reader with inspect_mri)
        if not tr > 0:
            raise DataError("parcellate: the BOLD header gives no repetition time.")
        data = np.asarray(img.dataobj, dtype=np.float64).reshape(-1, img.shape[3])
        counts = np.bincount(np.clip(lab, 0, None))
        nuisance = {i for ids in NUISANCE_LABELS.values() for i in ids}
        ids = [
            i for i in np.flatnonzero(counts) if i != 0 and i not in nuisance and counts[i] >= self.min_voxels
        ]
        if not ids:
            raise DataError("parcellate: no region of the label volume overlaps the BOLD field of view.")
        mask = lab > 0
        vox = np.flatnonzero(mask)
        member = sparse.csr_matrix(
            (np.ones(vox.size), (lab[vox], np.arange(vox.size))), shape=(counts.size, vox.size)
        )
        sums = member @ data[vox]  # one pass over the voxels, all regions at once
        means = sums / np.maximum(counts, 1)[:, None]
        conf = {}
        for name in self.confounds:
            sel = mask if name == "global" else np.isin(lab, NUISANCE_LABELS[name])
            if sel.any():
                conf[name] = data[sel].mean(axis=0)
            else:
                logger.info("parcellate: no %s voxels in the label volume; confound skipped.", name)
        names = label_names(labels, ids)
        if log is not None:
            log.update(n_regions=len(ids), confounds=sorted(conf), labels_file=Path(labels).name)
        return RegionTimeseries(
            means[ids].T, [names[i] for i in ids], tr, pd.DataFrame(conf) if conf else None
        )


class RegressConfounds(Step):
    """Regress nuisance signals (and their derivatives) out of region time series.

    nilearn's ``signal.clean`` does the regression (confounds standardised,
    optional linear detrending and z-scoring of the result).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from neurotwin.io import RegionTimeseries
    >>> from neurotwin.pipeline.steps import RegressConfounds
    >>> rng = np.random.default_rng(0); g = rng.normal(size=200)
    >>> ts = RegionTimeseries(rng.normal(size=(200, 3)) + g[:, None], list("ABC"), 2.0,
    ...                       pd.DataFrame({"global": g}))
    >>> out = RegressConfounds(confounds=["global"]).apply(ts)
    >>> bool(abs(np.corrcoef(out.data[:, 0], g)[0, 1]) < 1e-6)
    True
    """

    step: Literal["regress_confounds"] = "regress_confounds"
    accepts: ClassVar[tuple[str, ...]] = ("timeseries",)
    confounds: list[str] = Field(default_factory=lambda: ["wm", "csf"])
    derivatives: bool = False
    detrend: bool = True
    standardize: bool = False

    def apply(self, ts, log=None):
        from nilearn.signal import clean

        available = [] if ts.confounds is None else list(ts.confounds.columns)
        missing = [c for c in self.confounds if c not in available]
        if missing:
            raise DataError(
                f"regress_confounds: confound(s) {missing} were not extracted "
                f"(available: {available}); list them in the parcellate step."
            )
        conf = ts.confounds[self.confounds].to_numpy(float) if self.confounds else None
        if conf is not None and self.derivatives:
            conf = np.column_stack([conf, np.vstack([np.zeros((1, conf.shape[1])), np.diff(conf, axis=0)])])
        out = clean(
            ts.data,
            confounds=conf,
            detrend=self.detrend,
            standardize="zscore_sample" if self.standardize else None,
            filter=False,
            t_r=ts.tr,
        )
        if log is not None:
            log.update(regressors=0 if conf is None else conf.shape[1])
        return ts.copy(data=out)
