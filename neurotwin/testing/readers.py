"""The reader contract (:func:`check_reader`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import DataError, NeurotwinError
from ..io._registry import ReaderSpec

_ENTRY = {"ephys": "read_raw", "mri": "read_mri", "connectome": "read_connectome"}


def _entry_point(spec: ReaderSpec):
    from .. import io

    return getattr(io, _ENTRY[spec.modality])


def _expect_refusal(read, path: Path, what: str) -> None:
    try:
        read(path)
    except NeurotwinError as err:
        if path.name not in str(err):
            raise AssertionError(f"{what}: the error does not name {path.name}: {err}") from err
        return
    except Exception as err:  # a dependency's exception leaked through
        raise AssertionError(f"{what}: raised {type(err).__name__}, not a neurotwin error: {err}") from err
    raise AssertionError(f"{what}: {path.name} was read instead of refused")


def check_reader(spec: ReaderSpec, example: str | os.PathLike | None, tmp_dir: str | os.PathLike) -> None:
    """Check that a registered reader keeps the reader contract.

    1. the example file (if given) loads through the public entry point
       (``read_raw``/``read_mri``/``read_connectome``) to the right type;
    2. an empty file, a file cut to a third of its size, and a folder with
       the format's name are refused with a neurotwin error naming the file.

    Parameters
    ----------
    spec : ReaderSpec
        The registered format.
    example : path-like | None
        A valid file of that format, or None to check the refusals only.
    tmp_dir : path-like
        A scratch folder.

    Raises
    ------
    AssertionError
        Naming the broken part of the contract.

    Examples
    --------
    >>> import tempfile
    >>> from neurotwin.io import match_reader
    >>> from neurotwin.testing import check_reader
    >>> check_reader(match_reader("x.edf"), None, tempfile.mkdtemp())
    """
    import mne
    import nibabel as nib

    from ..io import Connectome

    read = _entry_point(spec)
    tmp = Path(tmp_dir)
    ext = spec.extensions[0]
    expected = {"ephys": mne.io.BaseRaw, "mri": nib.spatialimages.SpatialImage, "connectome": Connectome}[
        spec.modality
    ]
    if example is not None:
        obj = read(example)
        if not isinstance(obj, expected):
            raise AssertionError(f"{spec.name}: read {type(obj).__name__}, expected {expected.__name__}")
    if spec.is_dir:
        fake = tmp / f"notadir{ext}"
        fake.write_bytes(b"x")
        _expect_refusal(read, fake, f"{spec.name} file instead of folder")
        return
    empty = tmp / f"empty{ext}"
    empty.write_bytes(b"")
    _expect_refusal(read, empty, f"{spec.name} empty file")
    folder = tmp / f"folder{ext}"
    folder.mkdir(exist_ok=True)
    _expect_refusal(read, folder, f"{spec.name} folder")
    if example is not None and Path(example).is_file():
        cut = tmp / f"cut{ext}"
        data = Path(example).read_bytes()
        cut.write_bytes(data[: max(1, len(data) // 3)])
        for companion in Path(example).parent.glob(Path(example).stem + ".*"):
            if companion.suffix.lower() != Path(example).suffix.lower():
                shutil.copy(companion, tmp / f"cut{companion.suffix}")
        if spec.name == "BrainVision":
            return  # a cut header keeps its (intact) data file: nothing is wrong with the data
        _expect_refusal(read, cut, f"{spec.name} truncated file")
    if not issubclass(DataError, NeurotwinError):  # pragma: no cover
        raise AssertionError("DataError must derive from NeurotwinError")
