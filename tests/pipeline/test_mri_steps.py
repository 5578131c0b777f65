"""MRI steps: reorientation, regional volumes, BOLD parcellation and cleaning."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neurotwin.errors import DataError
from neurotwin.io import RegionTimeseries, read_mri
from neurotwin.pipeline.steps import Bandpass, Parcellate, RegionalVolumes, RegressConfounds, Reorient


def test_reorient_keeps_world_coordinates_of_every_voxel():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(4, 5, 6)).astype("f4")
    affine = np.array([[0, 0, -2, 10], [1.5, 0, 0, -3], [0, -1, 0, 7], [0, 0, 0, 1.0]])
    img = nib.Nifti1Image(data, affine)
    out = Reorient().apply(img)
    assert nib.aff2axcodes(out.affine) == ("R", "A", "S")
    ijk = np.array([1, 2, 3, 1])
    world = affine @ ijk
    back = np.linalg.solve(out.affine, world).round().astype(int)
    assert out.get_fdata()[tuple(back[:3])] == pytest.approx(data[1, 2, 3])


def test_regional_volumes_of_real_aseg(shared_data):
    path = shared_data / "mne-testing-data/subjects/sample/mri/aseg.mgz"
    img = read_mri(path)
    table = RegionalVolumes().apply(Reorient().apply(img), source=path)
    by_name = table.set_index("name")
    # independent count: voxels equal to the label id, times the voxel volume from the header
    lab = np.asarray(img.dataobj)
    voxel = float(np.prod(img.header.get_zooms()))
    for name, idx in (("Left-Hippocampus", 17), ("Right-Lateral-Ventricle", 43)):
        assert by_name.loc[name, "volume_mm3"] == pytest.approx((lab == idx).sum() * voxel)
    # plausible adult volumes (mm^3)
    assert 2000 < by_name.loc["Left-Hippocampus", "volume_mm3"] < 6000
    assert by_name["volume_mm3"].sum() > 1e6
    assert "Unknown" not in by_name.index


def test_regional_volumes_use_a_bids_dseg_tsv(tmp_path):
    lab = np.zeros((4, 4, 4), "i2")
    lab[:2] = 1
    lab[2:, :2] = 2
    path = tmp_path / "sub-01_dseg.nii.gz"
    nib.save(nib.Nifti1Image(lab, np.eye(4)), path)
    pd.DataFrame({"index": [1, 2], "name": ["Cortex", "Thalamus"]}).to_csv(
        tmp_path / "sub-01_dseg.tsv", sep="\t", index=False
    )
    table = RegionalVolumes().apply(nib.load(path), source=path)
    assert table["name"].tolist() == ["Cortex", "Thalamus"]
    assert table["volume_mm3"].tolist() == [32.0, 16.0]


def test_regional_volumes_refuse_an_intensity_image():
    img = nib.Nifti1Image(np.random.default_rng(0).normal(size=(4, 4, 4)).astype("f4"), np.eye(4))
    with pytest.raises(DataError, match="not labels"):
        RegionalVolumes().apply(img)


def _bold_and_labels(tmp_path, tr=2.0, n_t=120):
    """A 4-D BOLD image whose regions carry known signals, plus WM/CSF compartments."""
    rng = np.random.default_rng(1)
    lab = np.zeros((6, 6, 4), "i2")
    lab[:3, :3] = 17  # Left-Hippocampus
    lab[3:, :3] = 53  # Right-Hippocampus
    lab[:3, 3:] = 2  # white matter
    lab[3:, 3:] = 4  # ventricle
    signals = {k: rng.normal(size=n_t) for k in (17, 53, 2, 4)}
    data = np.zeros(lab.shape + (n_t,))
    for k, s in signals.items():
        data[lab == k] = 100 + s + 0.01 * rng.normal(size=((lab == k).sum(), n_t))
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    bold = nib.Nifti1Image(data.astype("f4"), affine)
    bold.header.set_zooms((3.0, 3.0, 3.0, tr))
    lab_path = tmp_path / "sub-01_desc-aseg_dseg.nii.gz"
    nib.save(nib.Nifti1Image(lab, affine), lab_path)
    return bold, lab_path, signals


def test_parcellate_recovers_region_signals_and_confounds(tmp_path):
    bold, lab_path, signals = _bold_and_labels(tmp_path)
    log = {}
    ts = Parcellate().apply(bold, log, labels=lab_path)
    assert ts.labels == ["Left-Hippocampus", "Right-Hippocampus"] and ts.tr == 2.0
    for j, k in enumerate((17, 53)):
        assert np.corrcoef(ts.data[:, j], signals[k])[0, 1] > 0.999
    assert np.corrcoef(ts.confounds["wm"], signals[2])[0, 1] > 0.999
    assert np.corrcoef(ts.confounds["csf"], signals[4])[0, 1] > 0.999
    assert log["n_regions"] == 2


@pytest.mark.parametrize("unit,pixdim", [("sec", 2.0), ("msec", 2000.0), ("usec", 2.0e6)])
def test_parcellate_and_inspect_read_one_tr_whatever_the_header_unit(tmp_path, unit, pixdim):
    from neurotwin.io import inspect_mri

    bold, lab_path, _ = _bold_and_labels(tmp_path, tr=pixdim)
    bold.header.set_xyzt_units("mm", unit)
    path = tmp_path / "sub-01_task-rest_bold.nii.gz"
    nib.save(bold, path)
    assert Parcellate().apply(nib.load(path), {}, labels=lab_path).tr == 2.0  # was 2,000,000 s for usec
    assert inspect_mri(nib.load(path)).tr == 2.0


def test_parcellate_resamples_labels_on_another_grid(tmp_path):
    bold, lab_path, signals = _bold_and_labels(tmp_path)
    lab = nib.load(lab_path)
    fine = np.repeat(np.repeat(np.repeat(np.asarray(lab.dataobj), 3, 0), 3, 1), 3, 2)
    fine_path = tmp_path / "fine_dseg.nii.gz"
    fine_affine = np.eye(4)
    fine_affine[:3, 3] = -1.0  # 1 mm voxels; each 3x3x3 block centred on one 3 mm BOLD voxel
    nib.save(nib.Nifti1Image(fine, fine_affine), fine_path)
    ts = Parcellate().apply(bold, labels=fine_path)
    assert np.corrcoef(ts.data[:, 0], signals[17])[0, 1] > 0.99


def test_parcellate_needs_4d_and_labels(tmp_path):
    bold, lab_path, _ = _bold_and_labels(tmp_path)
    with pytest.raises(DataError, match="4-D"):
        Parcellate().apply(nib.load(lab_path), labels=lab_path)
    with pytest.raises(DataError, match="no label volume"):
        Parcellate().apply(bold)


def test_regress_confounds_and_bandpass_on_time_series():
    rng = np.random.default_rng(0)
    tr, n = 0.72, 1200
    t = np.arange(n) * tr
    wm = rng.normal(size=n)
    slow, fast = np.sin(2 * np.pi * 0.05 * t), np.sin(2 * np.pi * 0.3 * t)
    data = np.column_stack([slow + 2 * wm + fast, -slow + wm]) + 0.01 * rng.normal(size=(n, 2))
    ts = RegionTimeseries(data, ["A", "B"], tr, pd.DataFrame({"wm": wm, "csf": rng.normal(size=n)}))
    clean = RegressConfounds(confounds=["wm"]).apply(ts)
    assert abs(np.corrcoef(clean.data[:, 1], wm)[0, 1]) < 1e-6
    band = Bandpass(l_freq=0.01, h_freq=0.1).apply(clean)
    assert np.corrcoef(band.data[:, 0], slow)[0, 1] > 0.95  # 0.3 Hz removed, 0.05 Hz kept
    with pytest.raises(DataError, match="not extracted"):
        RegressConfounds(confounds=["motion"]).apply(ts)


def test_regional_intensity_of_real_t1(shared_data):
    mri = shared_data / "mne-testing-data/subjects/sample/mri"
    aseg, t1 = read_mri(mri / "aseg.mgz"), nib.load(mri / "T1.mgz")
    table = RegionalVolumes(intensity="T1w").apply(aseg, source=mri / "aseg.mgz", image=mri / "T1.mgz")
    by_name = table.set_index("name")
    lab, values = np.asarray(aseg.dataobj), np.asarray(t1.dataobj, float)
    inside = values[lab == 2]  # same grid: an independent mean over the label's voxels
    assert by_name.loc["Left-Cerebral-White-Matter", "intensity_mean"] == pytest.approx(inside.mean())
    assert by_name.loc["Left-Cerebral-White-Matter", "intensity_median"] == pytest.approx(np.median(inside))
    # T1: white matter brighter than cortex, ventricles darkest
    wm = by_name.loc["Left-Cerebral-White-Matter", "intensity_mean"]
    assert (
        wm
        > by_name.loc["Left-Cerebral-Cortex", "intensity_mean"]
        > by_name.loc["Left-Lateral-Ventricle", "intensity_mean"]
    )


def test_boundary_counts_match_a_voxel_by_voxel_count():
    from neurotwin.pipeline.steps.mri import boundary_counts

    rng = np.random.default_rng(3)
    lab = rng.integers(0, 4, (6, 5, 4))
    lab[1:5, 1:4, 1:3] = 7  # a block with an inner core
    expected = np.zeros(8, int)
    for idx in np.ndindex(lab.shape):
        edge = False
        for ax in range(3):
            for d in (-1, 1):
                j = list(idx)
                j[ax] += d
                if not 0 <= j[ax] < lab.shape[ax] or lab[tuple(j)] != lab[idx]:
                    edge = True
        expected[lab[idx]] += edge
    assert boundary_counts(lab, 8).tolist() == expected.tolist()


def test_volume_se_is_the_boundary_quantisation_error(tmp_path):
    from neurotwin.features.context import Context
    from neurotwin.features.mri import volumes

    lab = np.zeros((12, 12, 12), "i2")
    lab[2:10, 2:10, 2:10] = 17  # an 8-voxel cube: 8³ - 6³ = 296 boundary voxels
    table = RegionalVolumes(exclude=[0]).apply(nib.Nifti1Image(lab, np.diag([2.0, 2.0, 2.0, 1.0])))
    assert table["n_boundary"].tolist() == [296]
    row = next(r for r in volumes(Context(data=table)) if r["feature"] == "volume")
    assert row["value"] == 512 * 8.0 and row["se"] == pytest.approx(8.0 * np.sqrt(296 / 12))
    old = table.drop(columns="n_boundary")  # a table of an older run: no SE, never a made-up one
    assert all(np.isnan(r["se"]) for r in volumes(Context(data=old)) if "se" in r)
