"""A corpus of damaged inputs: each must give a neurotwin error naming the
file and the cause, never a dependency's traceback, never data."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import mne
import nibabel as nib
import numpy as np
import pytest

from neurotwin.errors import DataError, MissingFileError, NeurotwinError, UnsupportedFormatError
from neurotwin.io import read_connectome, read_mri, read_raw
from tests.conftest import write_edf


def _edf(tmp: Path, name="ok.edf", **kw) -> Path:
    return write_edf(tmp / name, seconds=8, **kw)


def _edf_header_field(path: Path, start: int, value: bytes) -> Path:
    b = bytearray(path.read_bytes())
    b[start : start + len(value)] = value
    path.write_bytes(bytes(b))
    return path


def truncated_edf(tmp):
    p = _edf(tmp, "truncated.edf")
    p.write_bytes(p.read_bytes()[: p.stat().st_size * 2 // 3])
    return p, read_raw, "truncated"


def short_header_edf(tmp):
    p = _edf(tmp, "shorthead.edf")
    p.write_bytes(p.read_bytes()[:100])
    return p, read_raw, "truncated"


def flipped_version_edf(tmp):
    p = _edf_header_field(_edf(tmp, "flipver.edf"), 0, b"\xff\xfe")
    return p, read_raw, "not an EDF file|version"


def flipped_nsignals_edf(tmp):
    p = _edf_header_field(_edf(tmp, "flipns.edf"), 252, b"x\x07")
    return p, read_raw, "damaged"


def crlf_edf(tmp):
    p = _edf(tmp, "crlf.edf")
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    return p, read_raw, "text-mode"


def zero_sfreq_edf(tmp):
    p = _edf_header_field(_edf(tmp, "zerosf.edf"), 244, b"0       ")
    return p, read_raw, "sampling rate"


def negative_sfreq_edf(tmp):
    p = _edf_header_field(_edf(tmp, "negsf.edf"), 244, b"-1      ")
    return p, read_raw, "sampling rate"


def flat_edf(tmp):
    p = _edf(tmp, "flat.edf", data=np.zeros((3, 1024)))
    return p, read_raw, "flat"


def extra_bytes_edf(tmp):
    p = _edf(tmp, "extra.edf")
    p.write_bytes(p.read_bytes() + b"\x00" * 1000)
    return p, read_raw, "longer than its header"


def truncated_bdf(tmp):
    p = write_edf(tmp / "trunc.bdf", bdf=True)
    p.write_bytes(p.read_bytes()[:-500])
    return p, read_raw, "truncated"


def empty_edf(tmp):
    p = tmp / "empty.edf"
    p.write_bytes(b"")
    return p, read_raw, "empty"


def text_as_edf(tmp):
    p = tmp / "notes.edf"
    p.write_text("patient notes\n" * 40)
    return p, read_raw, "not an EDF file|version"


def edf_named_vhdr(tmp):
    p = tmp / "wrongext.vhdr"
    p.write_bytes(_edf(tmp).read_bytes())
    return p, read_raw, "not a BrainVision"


def unknown_extension(tmp):
    p = tmp / "recording.xyz"
    p.write_bytes(b"abc")
    return p, read_raw, "no reader"


def directory_as_file(tmp):
    p = tmp / "folder.edf"
    p.mkdir()
    return p, read_raw, "is a folder"


def missing_file(tmp):
    return tmp / "nothere.edf", read_raw, "no such file"


def all_nan_fif(tmp):
    info = mne.create_info(["Cz", "Oz"], 100.0, "eeg")
    p = tmp / "nan_raw.fif"
    mne.io.RawArray(np.full((2, 500), np.nan), info, verbose="error").save(p, verbose="error")
    return p, read_raw, "NaN"


def truncated_fif(tmp):
    info = mne.create_info(["Cz", "Oz"], 100.0, "eeg")
    p = tmp / "trunc_raw.fif"
    data = np.random.default_rng(0).normal(0, 1e-5, (2, 5000))
    mne.io.RawArray(data, info, verbose="error").save(p, verbose="error")
    p.write_bytes(p.read_bytes()[:20000])
    return p, read_raw, "could not be read|damaged|truncated"


def _copy_brainvision(shared, tmp, rewrite=None, skip=()):
    src = Path(shared) / "mne-python/mne/io/brainvision/tests/data"
    for f in src.iterdir():
        if f.suffix not in skip:
            shutil.copy(f, tmp / f.name)
    vhdr = tmp / "test.vhdr"
    if rewrite is not None:
        vhdr.write_bytes(rewrite(vhdr.read_bytes()))
    return vhdr


def vhdr_missing_data(tmp, shared=None):
    return _copy_brainvision(shared, tmp, skip=(".eeg",)), read_raw, "missing"


def vhdr_truncated_data(tmp, shared=None):
    vhdr = _copy_brainvision(shared, tmp)
    eeg = tmp / "test.eeg"
    eeg.write_bytes(eeg.read_bytes()[:-3])
    return vhdr, read_raw, "truncated"


def eeglab_truncated_fdt(tmp, shared=None):
    src = Path(shared) / "mne-testing-data/EEGLAB"
    for f in src.iterdir():
        shutil.copy(f, tmp / f.name)
    fdt = tmp / "test_raw.fdt"
    fdt.write_bytes(fdt.read_bytes()[:-4000])
    return tmp / "test_raw.set", read_raw, "truncated"


def empty_cnt(tmp):
    p = tmp / "empty.cnt"
    p.write_bytes(b"")
    return p, read_raw, "empty"


def garbage_cnt(tmp):
    p = tmp / "garbage.cnt"
    p.write_bytes(np.random.default_rng(0).integers(0, 255, 3000, dtype=np.uint8).tobytes())
    return p, read_raw, "could not be read|damaged"


def _nifti(tmp, name, data=None):
    data = np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8) if data is None else data
    p = tmp / name
    nib.save(nib.Nifti1Image(data, np.eye(4)), p)
    return p


def truncated_nifti(tmp):
    p = _nifti(tmp, "trunc.nii")
    p.write_bytes(p.read_bytes()[:500])
    return p, read_mri, "truncated|damaged"


def bad_header_nifti(tmp):
    p = _nifti(tmp, "badhdr.nii")
    b = bytearray(p.read_bytes())
    b[0:4] = b"\x00\x00\x00\x07"  # sizeof_hdr
    p.write_bytes(bytes(b))
    return p, read_mri, "header"


def zero_nifti(tmp):
    p = _nifti(tmp, "zeros.nii", np.zeros((5, 5, 5), np.int16))
    return p, read_mri, "zero"


def truncated_mgz(tmp):
    img = nib.MGHImage(np.arange(1000, dtype=np.float32).reshape(10, 10, 10), np.eye(4))
    p = tmp / "trunc.mgz"
    nib.save(img, p)
    p.write_bytes(p.read_bytes()[:200])
    return p, read_mri, "truncated|damaged"


def truncated_niigz(tmp):
    p = _nifti(tmp, "trunc.nii.gz")
    p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:400]))
    return p, read_mri, "truncated|damaged"


def bold_without_tr(tmp):
    p = tmp / "bold.nii"
    img = nib.Nifti1Image(np.random.default_rng(0).normal(size=(4, 4, 4, 10)).astype(np.float32), np.eye(4))
    img.header.set_zooms((2, 2, 2, 0))
    nib.save(img, p)
    return p, read_mri, "TR"


def nonsquare_csv(tmp):
    p = tmp / "sc.csv"
    np.savetxt(p, np.ones((3, 4)), delimiter=",")
    return p, read_connectome, "square"


def negative_weights_npy(tmp):
    p = tmp / "neg.npy"
    w = np.ones((4, 4))
    w[1, 2] = w[2, 1] = -1
    np.save(p, w)
    return p, read_connectome, "negative"


def nan_weights_csv(tmp):
    p = tmp / "nan.csv"
    w = np.ones((4, 4))
    w[0, 3] = w[3, 0] = np.nan
    np.savetxt(p, w, delimiter=",")
    return p, read_connectome, "NaN"


def asymmetric_csv(tmp):
    p = tmp / "asym.csv"
    np.savetxt(p, np.triu(np.ones((4, 4))), delimiter=",")
    return p, read_connectome, "symmetric"


def tvb_zip_without_weights(tmp):
    p = tmp / "conn.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("tract_lengths.txt", "0 1\n1 0\n")
    return p, read_connectome, "weights.txt"


def corrupt_zip(tmp):
    p = tmp / "broken.zip"
    p.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    return p, read_connectome, "zip"


def mat_without_weights(tmp):
    from scipy.io import savemat

    p = tmp / "other.mat"
    savemat(p, {"foo": np.ones((3, 3))})
    return p, read_connectome, "no weights"


def garbage_mat(tmp):
    p = tmp / "garbage.mat"
    p.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x01" * 300)
    return p, read_connectome, "MATLAB"


CASES = [
    truncated_edf,
    short_header_edf,
    flipped_version_edf,
    flipped_nsignals_edf,
    crlf_edf,
    zero_sfreq_edf,
    negative_sfreq_edf,
    flat_edf,
    extra_bytes_edf,
    truncated_bdf,
    empty_edf,
    text_as_edf,
    edf_named_vhdr,
    unknown_extension,
    directory_as_file,
    missing_file,
    all_nan_fif,
    truncated_fif,
    empty_cnt,
    garbage_cnt,
    truncated_nifti,
    bad_header_nifti,
    zero_nifti,
    truncated_mgz,
    truncated_niigz,
    bold_without_tr,
    nonsquare_csv,
    negative_weights_npy,
    nan_weights_csv,
    asymmetric_csv,
    tvb_zip_without_weights,
    corrupt_zip,
    mat_without_weights,
    garbage_mat,
]
SHARED_CASES = [vhdr_missing_data, vhdr_truncated_data, eeglab_truncated_fdt]


def _check(path, reader, cause):
    with pytest.raises(NeurotwinError) as info:
        reader(path)
    msg = str(info.value)
    assert path.name in msg, msg
    import re

    assert re.search(cause, msg, re.IGNORECASE), msg
    return info.value


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_damaged_input_refused(tmp_path, case):
    path, reader, cause = case(tmp_path)
    _check(path, reader, cause)


@pytest.mark.parametrize("case", SHARED_CASES, ids=lambda c: c.__name__)
def test_damaged_real_files_refused(tmp_path, shared_data, case):
    path, reader, cause = case(tmp_path, shared_data)
    _check(path, reader, cause)


def test_crlf_damage_of_real_eegbci_file(tmp_path, shared_data):
    """The public eegbci copy was once CRLF-damaged; the damage is named."""
    src = shared_data / "physionet-eegbci-S001/S001R01.edf"
    bad = tmp_path / "S001R01.edf"
    bad.write_bytes(src.read_bytes().replace(b"\n", b"\r\n"))
    _check(bad, read_raw, "text-mode")


def test_error_types():
    assert issubclass(MissingFileError, FileNotFoundError)
    assert issubclass(UnsupportedFormatError, DataError)


def test_corpus_is_large_enough():
    assert len(CASES) + len(SHARED_CASES) >= 15


def test_brainvision_base_name_placeholder_explained(tmp_path, shared_data):
    vhdr = _copy_brainvision(
        shared_data, tmp_path, lambda b: b.replace(b"DataFile=test.eeg", b"DataFile=$b.eeg")
    )
    with pytest.raises(DataError, match=r"test.vhdr.*'\$b'.*DataFile=test.eeg"):
        read_raw(vhdr)


def test_brainvision_v2_header_line_accepted(tmp_path, shared_data):
    def v2(b):
        first, rest = b.split(b"\n", 1)
        return b"BrainVision Data Exchange Header File Version 2.0\r\n" + rest

    vhdr = _copy_brainvision(shared_data, tmp_path, v2)
    from neurotwin.io._checks import check_brainvision

    check_brainvision(vhdr)  # our check passes; the data file size is verified
