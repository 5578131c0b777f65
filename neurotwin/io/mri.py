"""Reading MRI volumes (NIfTI, MGH/MGZ) into nibabel images.

nibabel images *are* our MRI containers. On top of :func:`nibabel.load`
this module refuses damaged or empty volumes with a named error and tells
what a volume is (:func:`inspect_mri`): an anatomical image (T1), a label
volume (FreeSurfer ``aseg``/``aparc+aseg``, with the names of MNE's copy
of ``FreeSurferColorLUT.txt``) or a 4-D BOLD series with its TR.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from .._docs import fill_doc
from .._logging import logger, verbose
from ..errors import DataError, NeurotwinError
from . import _checks
from ._registry import ReaderSpec, find_reader, register_reader

__all__ = ["read_mri", "inspect_mri", "MRIInfo", "freesurfer_lut"]

#: Largest volume read_mri allocates by default (GiB): a 0.7-mm 7T BOLD of
#: 1000 volumes is ~3 GiB of float32. Larger needs ``max_gib=`` on purpose,
#: so that a damaged or malicious header (a gzip bomb) is refused before
#: any memory is taken.
MAX_GIB = 4.0
_MAX_LABELS = 2000  # an integer volume with more distinct values is an image
_LABEL_NAME = re.compile(r"(aseg|aparc|_dseg|label|parc|atlas|seg\b)", re.IGNORECASE)


def _load(path: Path, **kwargs) -> nib.spatialimages.SpatialImage:
    return nib.load(path, **kwargs)


for _spec in (
    ReaderSpec("NIfTI", (".nii", ".nii.gz"), "mri", _load, _checks.check_nonempty),
    ReaderSpec("MGH", (".mgz", ".mgh"), "mri", _load, _checks.check_nonempty),
):
    register_reader(_spec)


def freesurfer_lut() -> dict[int, str]:
    """Return FreeSurfer's colour look-up table as ``{label id: name}``.

    Read from the copy that ships with MNE-Python (no download).

    Examples
    --------
    >>> from neurotwin.io import freesurfer_lut
    >>> freesurfer_lut()[17]
    'Left-Hippocampus'
    """
    import mne

    names, _ = mne.read_freesurfer_lut()
    return {int(v): k for k, v in names.items()}


@dataclass(frozen=True)
class MRIInfo:
    """What an MRI volume is.

    Attributes
    ----------
    kind : str
        ``"anat"`` (e.g. T1), ``"labels"`` or ``"bold"``.
    shape : tuple of int
        Array shape.
    voxel_size : tuple of float
        Voxel edge lengths in mm (spatial axes).
    tr : float | None
        Repetition time in seconds (BOLD only).
    labels : dict
        ``{label id: name}`` of the labels present (label volumes only);
        names from the FreeSurfer LUT, ``"label-<id>"`` when unknown.

    Examples
    --------
    >>> from neurotwin.io import MRIInfo
    >>> MRIInfo("bold", (64, 64, 40, 200), (3.0, 3.0, 3.0), tr=2.0).tr
    2.0
    """

    kind: str
    shape: tuple[int, ...]
    voxel_size: tuple[float, ...]
    tr: float | None = None
    labels: dict[int, str] = field(default_factory=dict)


def inspect_mri(img: nib.spatialimages.SpatialImage, kind: str | None = None) -> MRIInfo:
    """Describe an MRI volume: anatomical, label volume or 4-D BOLD.

    Parameters
    ----------
    img : nibabel image
        A loaded volume.
    kind : str | None
        Force ``"anat"``, ``"labels"`` or ``"bold"``; default: recognise it
        (4-D -> BOLD; a 3-D integer volume on a zero background whose file
        name says so (``aseg``, ``aparc``, ``_dseg``, ``atlas``...) or whose
        values are a sparse set of FreeSurfer LUT ids -> labels; else
        anatomical).

    Returns
    -------
    info : MRIInfo
        The description.

    Examples
    --------
    >>> import nibabel as nib, numpy as np
    >>> from neurotwin.io import inspect_mri
    >>> data = np.zeros((4, 4, 4), np.int16); data[1:3, 1:3, 1:3] = 17
    >>> inspect_mri(nib.Nifti1Image(data, np.eye(4))).labels
    {17: 'Left-Hippocampus'}
    """
    shape = tuple(int(s) for s in img.shape)
    zooms = tuple(float(z) for z in img.header.get_zooms())
    ids = None
    if kind is None:
        fname = img.get_filename() or ""
        kind, ids = _guess_kind(img, Path(fname).name)
    tr = None
    if kind == "bold":
        tr = repetition_time(img)
    labels: dict[int, str] = {}
    if kind == "labels":
        lut = freesurfer_lut()
        if ids is None:  # kind was given: the values were not read yet
            ids = np.unique(np.asarray(img.dataobj))
        labels = {int(i): lut.get(int(i), f"label-{int(i)}") for i in ids.astype(int) if i != 0}
    return MRIInfo(kind, shape, zooms[:3], tr, labels)


def _guess_kind(img, name: str = "") -> tuple[str, np.ndarray | None]:
    """The volume's kind, and its distinct values when they had to be read."""
    if img.ndim == 4 and img.shape[3] > 1:
        return "bold", None
    if not np.issubdtype(img.get_data_dtype(), np.integer) and not _LABEL_NAME.search(name):
        return "anat", None
    data = np.asarray(img.dataobj)
    if not np.array_equal(data, np.round(data)):
        return "anat", None
    ids = np.unique(data)
    if len(ids) > _MAX_LABELS or ids.min() < 0 or 0 not in ids:
        return "anat", ids
    if _LABEL_NAME.search(name):
        return "labels", ids
    # A label volume uses a sparse set of LUT ids (aseg: 2, 3, 4, 5, 7, ...;
    # aparc: 1000-2035) on a zero background; an intensity image (even an
    # 8-bit one such as FreeSurfer's brain.mgz) fills a dense range.
    nonzero = ids[ids != 0].astype(int)
    lut = freesurfer_lut()
    in_lut = np.isin(nonzero, list(lut)).mean() if nonzero.size else 0.0
    sparse = (nonzero.max() - nonzero.min() + 1) >= 2.5 * nonzero.size if nonzero.size else False
    return ("labels" if in_lut >= 0.9 and (sparse or nonzero.size <= 3) else "anat"), ids


def repetition_time(img) -> float:
    """The repetition time of a 4-D image in seconds (0 when the header gives none).

    The header's time unit applies (``msec``/``usec`` are converted), and the
    float32 ``pixdim`` is rounded to 6 decimals (0.72, not 0.72000003). The
    one TR reader of neurotwin: :func:`inspect_mri` and the ``parcellate``
    step use it.

    Examples
    --------
    >>> import nibabel as nib, numpy as np
    >>> img = nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.float32), np.eye(4))
    >>> img.header.set_zooms((1.0, 1.0, 1.0, 2.0e6)); img.header.set_xyzt_units("mm", "usec")
    >>> repetition_time(img)
    2.0
    """
    zooms = img.header.get_zooms()
    tr = float(zooms[3]) if len(zooms) > 3 else 0.0
    units = img.header.get_xyzt_units()[1] if hasattr(img.header, "get_xyzt_units") else "sec"
    tr = {"msec": tr / 1000.0, "usec": tr / 1e6}.get(units, tr)
    return round(tr, 6)


def _check_header(img, path: Path) -> None:
    """Run nibabel's header checks on the header *as stored*.

    nibabel repairs some damage on load (a wrong ``sizeof_hdr`` is reset to
    348 with a log message), so the stored block is re-read unrepaired and
    any problem of level >= 30 (nibabel's "this is wrong" level) refused.
    """
    header_class = type(img.header)
    if not hasattr(header_class, "sizeof_hdr") or not isinstance(img, nib.Nifti1Image):
        return
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fid:
        block = fid.read(header_class.sizeof_hdr)
    try:
        stored = header_class(block, check=False)
        stored.check_fix(error_level=30)
    except nib.spatialimages.HeaderDataError as err:
        raise DataError(f"{path}: the NIfTI header is damaged ({err}). Re-export the image.") from None


def _check_size(img, path: Path, max_gib: float) -> None:
    """Refuse impossible dimensions, and sizes the file or memory cannot hold.

    Runs on the header only, before nibabel allocates the data array.
    """
    shape = tuple(int(s) for s in img.shape)
    if not shape or any(s <= 0 for s in shape):
        raise DataError(
            f"{path}: the header declares dimensions {shape}; the volume is empty or its header is damaged."
        )
    extra = shape[4:] if len(shape) > 4 else ()
    if any(s != 1 for s in extra):
        raise DataError(
            f"{path}: the header declares a {len(shape)}-D volume {shape}; MRI volumes are 3-D "
            "(anatomy, labels) or 4-D (BOLD). The header is damaged or the file holds "
            "something else."
        )
    itemsize = np.dtype(img.get_data_dtype()).itemsize
    declared = float(np.prod(np.asarray(shape, dtype=float))) * itemsize
    if declared > max_gib * 2**30:
        raise DataError(
            f"{path}: the header declares {declared / 2**30:.3g} GiB of voxel data {shape}, "
            f"more than max_gib={max_gib:g}. If the volume is real, pass a larger max_gib; "
            "otherwise the header is damaged."
        )
    if not path.name.lower().endswith((".gz", ".mgz")):
        offset = float(getattr(img.header, "get_data_offset", lambda: 0)())
        size = path.stat().st_size
        if size < offset + declared:
            raise DataError(
                f"{path}: the header declares {int(declared)} bytes of voxel data from byte "
                f"{int(offset)}, but the file has {size} bytes: it is truncated. Copy it again."
            )


@fill_doc
@verbose
def read_mri(
    fname: str | os.PathLike,
    *,
    kind: str | None = None,
    max_gib: float = MAX_GIB,
    verbose: bool | str | int | None = None,
) -> nib.spatialimages.SpatialImage:
    """Read an MRI volume (NIfTI or MGH/MGZ) and check that it is usable.

    The data are read once to check them (a truncated or corrupt file fails
    here, not later in an analysis); nibabel caches nothing, so memory is
    released when the check ends.

    Parameters
    ----------
    fname : str | os.PathLike
        ``.nii``, ``.nii.gz``, ``.mgz`` or ``.mgh`` file.
    kind : str | None
        Expected kind: ``"anat"``, ``"labels"`` or ``"bold"``; an image of
        another dimensionality is refused. Default: any.
    max_gib : float
        Largest voxel array to allocate, in GiB (default :data:`MAX_GIB`);
        checked on the header before any data are read.
    %(verbose)s

    Returns
    -------
    img : nibabel image
        The volume; describe it with :func:`inspect_mri`.

    Raises
    ------
    neurotwin.errors.DataError
        If the file is missing, unreadable, empty, truncated, has a bad
        header (impossible dimensions or data type, more data declared than
        ``max_gib``), is all zeros, NaN or one constant value, or a BOLD
        series has no positive TR.

    Examples
    --------
    >>> from neurotwin.datasets import sample_data_path
    >>> from neurotwin.io import read_mri, inspect_mri
    >>> img = read_mri(next(sample_data_path().rglob("*_T1w.nii.gz")))
    >>> inspect_mri(img).kind
    'anat'
    """
    path = Path(fname)
    spec = find_reader(path, "mri")
    if spec.check is not None:
        spec.check(path)
    try:
        img = spec.read(path)
        _check_header(img, path)
        _check_size(img, path, max_gib)
        if path.name.lower().endswith((".gz", ".mgz")):
            _checks.check_gzip(path, max_gib * 2**30 + 2**20)
        data = np.asanyarray(img.dataobj)
    except NeurotwinError:
        raise
    except (
        nib.filebasedimages.ImageFileError,
        nib.spatialimages.HeaderDataError,
        KeyError,
        OverflowError,
        TypeError,
    ) as err:
        raise DataError(f"{path}: not a valid {spec.name} image: its header is damaged ({err}).") from err
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError) as err:
        raise DataError(
            f"{path}: the image data cannot be read ({type(err).__name__}: {err}); "
            "the file is truncated or damaged. Copy it again."
        ) from err
    if data.size == 0 or any(s <= 0 for s in img.shape):
        raise DataError(f"{path}: the volume has shape {img.shape}; it is empty.")
    finite = np.isfinite(data)
    if not finite.any():
        raise DataError(f"{path}: every voxel is NaN or infinite.")
    values = data[finite]
    if not np.any(values):
        raise DataError(f"{path}: every voxel is zero; the volume is empty.")
    if values.min() == values.max():
        raise DataError(
            f"{path}: every voxel has the value {values.flat[0]:g}; the volume holds no "
            "image. Check the export."
        )
    zooms = img.header.get_zooms()[:3]
    if any(not np.isfinite(z) or z <= 0 for z in zooms):
        raise DataError(f"{path}: voxel sizes {tuple(map(float, zooms))} mm must be > 0.")
    if kind is not None:
        from .._validation import check_option

        check_option(kind, ("anat", "labels", "bold"), "kind")
        is4d = img.ndim == 4 and img.shape[3] > 1
        if (kind == "bold") != is4d:
            raise DataError(
                f"{path}: expected a {'4-D' if kind == 'bold' else '3-D'} {kind} "
                f"volume, got shape {img.shape}."
            )
    if img.ndim == 4 and img.shape[3] > 1 and repetition_time(img) <= 0:
        raise DataError(f"{path}: a 4-D series with TR = {repetition_time(img)} s; the header lacks a TR.")
    logger.info("Read %s: shape %s, voxels %s mm", path.name, img.shape, tuple(map(float, zooms)))
    return img
