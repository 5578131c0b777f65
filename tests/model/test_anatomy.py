"""The patient's own head: the MNE sample person's MRI, BEM and transform (real data)."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurotwin.errors import ConfigError, DataError, MissingFileError, NoPositionsError
from neurotwin.model import Anatomy, fit_cortex, parcellation, template_cortex
from neurotwin.model.leadfield import cortical_leadfield

TRANS = "mne-testing-data/MEG/sample/sample_audvis_trunc-trans.fif"


@pytest.fixture(scope="module")
def sample_anatomy(shared_data) -> Anatomy:
    return Anatomy(
        str(shared_data / "mne-testing-data" / "subjects"), "sample", trans=str(shared_data / TRANS)
    )


@pytest.fixture(scope="module")
def cortex(shared_data):
    return template_cortex(shared_data / "tvb-data-3.0.0" / "tvb_data")


@pytest.fixture
def identity_trans(tmp_path):
    """A head-to-MRI transform that was never fitted (the identity): a common mistake."""
    path = tmp_path / "wrong-trans.fif"
    mne.write_trans(path, mne.transforms.Transform("head", "mri", np.eye(4)))
    return str(path)


def _inside(points, surface_rr, tris):
    from neurotwin.model.anatomy import _inside_surface

    return _inside_surface(surface_rr, tris, points)


def test_the_cortex_goes_into_the_patients_inner_skull(sample_anatomy, cortex):
    skull, _ = sample_anatomy.inner_skull()
    sol = sample_anatomy.bem_solution(eeg=False)
    surf = sol["surfs"][0]
    rr, nn = fit_cortex(cortex, skull, sample_anatomy.mri_to_mni(), (surf["rr"], surf["tris"]))
    # every vertex inside the conductor's inner skull (the coarse BEM's, which MNE checks)
    assert _inside(rr, surf["rr"], surf["tris"]).all()
    # the cortex spans most of the skull (not shrunk to a ball), and the normals stay unit vectors
    extent = rr.max(axis=0) - rr.min(axis=0)
    assert np.all(extent > 0.7 * (skull.max(axis=0) - skull.min(axis=0)))
    assert np.allclose(np.linalg.norm(nn, axis=1), 1.0)
    # the solid-angle test agrees with a point far away and with the skull's centre, and its shortcut
    # (the ball no triangle's plane cuts, the farthest vertex) with the sum over every triangle
    from neurotwin.model.anatomy import _solid_angle_inside

    probe = np.random.default_rng(0).normal(skull.mean(axis=0), 0.04, (500, 3))
    fast = _inside(probe, surf["rr"], surf["tris"])
    assert (fast == _solid_angle_inside(surf["rr"], surf["tris"], probe)).all() and 0.2 < fast.mean() < 0.9
    assert not _inside(np.array([[1.0, 1.0, 1.0]]), surf["rr"], surf["tris"])[0]
    assert _inside(skull.mean(axis=0, keepdims=True), surf["rr"], surf["tris"])[0]


def test_meg_lead_field_in_the_patients_own_bem(sample_anatomy, cortex, sample_raw, tvb76):
    from neurotwin.features.sensors import head_sphere

    info = sample_raw.copy().pick("meg").info
    sphere, fitted = head_sphere(sample_raw.info)
    assert fitted
    lf, used = sample_anatomy.leadfield(info, cortex, tvb76.labels, sphere=sphere)
    assert lf.gain.shape == (306, 76)
    assert used["head_model"] == "BEM (1 layer)" and used["vertices_outside"] == 0
    assert used["coregistration"]["mm"] < 10  # the sample person's own transform fits its own head
    template = cortical_leadfield(info, cortex, tvb76.labels, sphere=sphere).gain
    # the same cortex's regions, so related, but the patient's head moves them: not the template's
    r = np.corrcoef(np.abs(lf.gain).ravel(), np.abs(template).ravel())[0, 1]
    assert 0.3 < r < 0.99


def test_eeg_lead_field_without_a_three_layer_bem_takes_a_sphere(sample_anatomy, cortex, sample_raw, tvb76):
    info = sample_raw.copy().pick("eeg").info
    lf, used = sample_anatomy.leadfield(info, cortex, tvb76.labels)
    assert lf.gain.shape == (60, 76)
    assert used["head_model"].startswith("sphere")  # the sample's BEM has one layer: not enough for EEG
    assert used["coregistration"]["measure"] == "median electrode-to-scalp distance"
    assert used["coregistration"]["mm"] < 6 and used["vertices_outside"] == 0


def test_a_transform_that_does_not_match_the_recording_is_refused(
    sample_anatomy, identity_trans, sample_raw, cortex, tvb76, tmp_path
):
    from neurotwin.features.sensors import head_sphere

    wrong = Anatomy(sample_anatomy.subjects_dir, "sample", trans=identity_trans)
    with pytest.raises(DataError, match="does not match this recording: median electrode-to-scalp"):
        wrong.leadfield(sample_raw.copy().pick("eeg").info, cortex, tvb76.labels)
    with pytest.raises(
        DataError, match="does not match this recording: median distance of the recording's head"
    ):
        wrong.coregistration(sample_raw.copy().pick("meg").info, sphere=head_sphere(sample_raw.info)[0])
    with pytest.raises(ConfigError, match="no head-to-MRI transform"):
        Anatomy(sample_anatomy.subjects_dir, "sample").head_to_mri()
    with pytest.raises(MissingFileError, match="does not exist"):
        Anatomy(sample_anatomy.subjects_dir, "sample", trans="/nonexistent-trans.fif").head_to_mri()
    meg_head = tmp_path / "dev_head-trans.fif"
    mne.write_trans(meg_head, mne.transforms.Transform("meg", "head", np.eye(4)))
    with pytest.raises(DataError, match="is not a head-to-MRI transform"):
        Anatomy(sample_anatomy.subjects_dir, "sample", trans=str(meg_head)).head_to_mri()
    with pytest.raises(MissingFileError, match="has no inner skull surface"):
        Anatomy(sample_anatomy.subjects_dir, "nobody", trans=sample_anatomy.trans).inner_skull()


def test_a_segmentation_needs_cortical_labels(shared_data):
    with pytest.raises(DataError, match="has no cortical labels"):
        parcellation(shared_data / "mne-testing-data" / "subjects" / "sample" / "mri" / "aseg.mgz")
    labels, centres = parcellation(
        shared_data / "mne-misc-data" / "ecog" / "sample_ecog" / "mri" / "aparc+aseg.mgz"
    )
    assert len(labels) == 68 and all(lb.startswith("ctx-") for lb in labels)  # Desikan-Killiany
    # left-hemisphere regions on the left (negative x in RAS), inside a head
    left = np.array([lb.startswith("ctx-lh-") for lb in labels])
    assert (centres[left, 0] < 0).all() and (centres[~left, 0] > 0).all()
    assert np.abs(centres).max() < 100


def test_a_twin_in_the_patients_own_head(sample_anatomy, few_meg, tvb76, tmp_path):
    from neurotwin.twin import Twin, TwinStore
    from neurotwin.twin.objectives import MegSpectrumObjective

    twin = Twin("sample", modality="meg", connectome=tvb76, anatomy=sample_anatomy)
    obj = MegSpectrumObjective.build(few_meg, tvb76, twin)
    assert "sample's head (BEM (1 layer))" in obj.summary["head"]
    assert obj.summary["anatomy"]["coregistration"]["mm"] < 10
    template = MegSpectrumObjective.build(few_meg, tvb76, Twin("sample", modality="meg", connectome=tvb76))
    assert not np.allclose(obj.lf, template.lf)
    # the setting is stored with the twin (paths only) and comes back
    twin.states_ = []
    store = TwinStore(tmp_path / "twins.sqlite")
    store.save(twin)
    assert store.load("sample").anatomy == sample_anatomy.to_dict()
    # an EEG twin in the patient's own head needs the recording's electrode positions
    arrays = {k: v for k, v in few_meg.arrays.items() if k != "channel_positions"}
    eeg = type(few_meg)(few_meg.table, arrays, few_meg.provenance)
    with pytest.raises(NoPositionsError, match="own electrode positions"):
        Twin("sample", connectome=tvb76, anatomy=sample_anatomy).fit(eeg)
    # a connectome in FreeSurfer labels needs the subject's parcellation: the sample person has aseg only
    desikan = _desikan([f"lh.{n}" for n in ("precentral", "postcentral", "cuneus", "insula")], 4)
    with pytest.raises(DataError, match="has no cortical labels"):
        Twin("sample", connectome=desikan, anatomy=sample_anatomy).fit(few_meg)
    with pytest.raises(ConfigError, match="anatomy= is for EEG and MEG twins"):
        Twin("sample", modality="bold", anatomy=sample_anatomy)
    with pytest.raises(ConfigError, match="anatomy needs subjects_dir"):
        Twin("sample", anatomy={"subject": "sample"})


@pytest.mark.slow
def test_eeg_lead_field_in_a_three_layer_bem(sample_anatomy, cortex, sample_raw, tvb76, tmp_path):
    # the sample person's three BEM surfaces, at a coarse resolution, solved here (not shipped)
    model = mne.make_bem_model(
        "sample",
        ico=3,
        conductivity=(0.3, 0.006, 0.3),
        subjects_dir=sample_anatomy.subjects_dir,
        verbose="error",
    )
    path = tmp_path / "sample-3layer-bem-sol.fif"
    mne.write_bem_solution(path, mne.make_bem_solution(model, verbose="error"))
    own = Anatomy(sample_anatomy.subjects_dir, "sample", trans=sample_anatomy.trans, bem=str(path))
    info = sample_raw.copy().pick("eeg").pick(list(range(0, 60, 3))).info
    lf, used = own.leadfield(info, cortex, tvb76.labels)
    assert used["head_model"] == "BEM (3 layers)" and used["vertices_outside"] == 0
    sphere, _ = sample_anatomy.leadfield(info, cortex, tvb76.labels)
    # the same sources through the skull's real shape, not a sphere: related, and different
    r = np.corrcoef(lf.gain.ravel(), sphere.gain.ravel())[0, 1]
    assert 0.5 < r < 0.995


def _desikan(names, n_regions=8):
    """A small connectome whose regions are FreeSurfer labels (``lh.<name>``)."""
    from neurotwin.io import Connectome

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 40, (n_regions, 3))
    lengths = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    weights = np.exp(-lengths / 40.0)
    np.fill_diagonal(weights, 0.0)
    return Connectome(weights, tract_lengths=lengths, labels=list(names)[:n_regions], centres=centres)


def test_regions_from_the_subjects_own_parcellation(sample_anatomy, shared_data, sample_raw, tmp_path):
    # the sample person has no aparc+aseg: a connectome in FreeSurfer labels is refused with the reason
    con = _desikan([f"lh.{n}" for n in ("precentral", "postcentral", "cuneus", "insula")], 4)
    info = sample_raw.copy().pick("eeg").info
    with pytest.raises(DataError, match="aseg.mgz has no cortical labels"):
        sample_anatomy.leadfield(info, None, con.labels)
    # mechanics only: the sample person's head with another person's aparc+aseg (the ECoG subject's)
    subject = tmp_path / "fs" / "mix"
    (subject / "mri").mkdir(parents=True)
    (subject / "bem").symlink_to(shared_data / "mne-testing-data" / "subjects" / "sample" / "bem")
    ecog = shared_data / "mne-misc-data" / "ecog" / "sample_ecog" / "mri" / "aparc+aseg.mgz"
    (subject / "mri" / "aparc+aseg.mgz").symlink_to(ecog)
    mixed = Anatomy(str(tmp_path / "fs"), "mix", trans=sample_anatomy.trans)
    lf, used = mixed.leadfield(info, None, con.labels)
    assert used["cortex"].startswith("radial dipoles at the centroids") and lf.gain.shape == (60, 4)
    assert (np.abs(lf.gain).sum(axis=0) > 0).all()  # every region matched (lh.x = ctx-lh-x) and seen
    with pytest.raises(DataError, match="none of the connectome's regions"):
        mixed.leadfield(info, None, ["R0", "R1"])
    with pytest.raises(ConfigError, match="MEG twin in the subject.s own parcellation"):
        mixed.leadfield(sample_raw.copy().pick("meg").info, None, con.labels)
