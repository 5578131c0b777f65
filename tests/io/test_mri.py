"""MRI volumes: real T1, label volumes and BOLD."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from neurotwin.errors import DataError
from neurotwin.io import inspect_mri, read_mri


def test_sample_t1(shared_data):
    info = inspect_mri(read_mri(shared_data / "mne-testing-data/subjects/sample/mri/T1.mgz"))
    assert info.kind == "anat" and info.shape == (86, 86, 86) and info.voxel_size == (3.0, 3.0, 3.0)


@pytest.mark.parametrize(
    "rel,n_min",
    [
        ("mne-testing-data/subjects/sample/mri/aseg.mgz", 30),
        ("mne-misc-data/ecog/sample_ecog/mri/aseg.mgz", 30),
        ("mne-misc-data/ecog/sample_ecog/mri/aparc+aseg.mgz", 100),
    ],
)
def test_label_volumes_named(shared_data, rel, n_min):
    info = inspect_mri(read_mri(shared_data / rel, kind="labels"))
    assert info.kind == "labels" and len(info.labels) >= n_min
    names = set(info.labels.values())
    assert {"Left-Hippocampus", "Right-Hippocampus", "Left-Thalamus"} & names
    if "aparc" in rel:
        assert "ctx-lh-precuneus" in names and "ctx-rh-insula" in names


def test_intensity_images_are_not_labels(shared_data):
    for rel in (
        "mne-misc-data/ecog/sample_ecog/mri/T1.mgz",
        "mne-testing-data/subjects/sample/mri/brain.mgz",
        "nibabel-wheel/anatomical.nii",
    ):
        assert inspect_mri(read_mri(shared_data / rel)).kind == "anat", rel


def test_bold_tr(shared_data):
    info = inspect_mri(read_mri(shared_data / "nibabel-wheel/functional.nii", kind="bold"))
    assert info.kind == "bold" and info.tr == 2.0 and info.shape[3] == 20


def test_bold_tr_in_ms(tmp_path):
    img = nib.Nifti1Image(np.random.default_rng(0).normal(size=(3, 3, 3, 5)).astype(np.float32), np.eye(4))
    img.header.set_zooms((2, 2, 2, 720))
    img.header.set_xyzt_units("mm", "msec")
    nib.save(img, tmp_path / "b.nii.gz")
    assert inspect_mri(read_mri(tmp_path / "b.nii.gz")).tr == pytest.approx(0.72)


def test_kind_mismatch(shared_data):
    with pytest.raises(DataError, match="anatomical.nii.*expected a 4-D"):
        read_mri(shared_data / "nibabel-wheel/anatomical.nii", kind="bold")
