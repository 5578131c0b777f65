"""Study discovery on BIDS datasets and plain folders."""

from __future__ import annotations

import shutil

import pytest

from neurotwin.errors import ConfigError, DataError
from neurotwin.io import discover_study


def test_sample_study(sample_root):
    study = discover_study(sample_root)
    assert study.layout == "bids" and study.subjects == ["01", "02", "03"]
    assert all(study.sessions(s) == ["01", "02", "03"] for s in study.subjects)
    eeg = study.select(datatype="eeg")
    assert len(eeg) == 9 and set(eeg["task"]) == {"rest"} and set(eeg["format"]) == {"EDF"}
    assert len(study.select(datatype="anat")) == 5  # a T1 each, and sub-01's label volumes (ses-01, -03)
    table = study.table()
    assert len(table) == 9 and {"age", "sex"} <= set(table.columns)
    assert not study.problems


def test_malformed_names_reported_not_crashed(sample_root, tmp_path):
    root = tmp_path / "study"
    shutil.copytree(sample_root, root)
    eeg = root / "sub-01/ses-01/eeg"
    src = eeg / "sub-01_ses-01_task-rest_eeg.edf"
    shutil.copy(src, eeg / "sub-01_ses-01_tsk-rest_eeg.edf")  # unknown entity
    shutil.copy(src, eeg / "sub-02_ses-01_task-rest_eeg.edf")  # wrong subject folder
    shutil.copy(src, eeg / "sub-01_ses-01_task-re+st_eeg.edf")  # bad label
    (root / "sub-01/ses-01/weird").mkdir()
    shutil.copy(src, root / "sub-01/ses-01/weird/sub-01_ses-01_task-rest_eeg.edf")  # not a datatype
    study = discover_study(root)
    assert len(study.problems) == 4
    reasons = " ".join(r for _, r in study.problems)
    for word in ("tsk", "differs from its folder", "alphanumeric", "not a BIDS datatype"):
        assert word in reasons
    assert len(study.select(datatype="eeg")) == 9


def test_plain_folder_rule(shared_data, tmp_path):
    root = tmp_path / "plain"
    for sub in ("A", "B"):
        for ses in ("s1", "s2"):
            (root / sub / ses).mkdir(parents=True)
            shutil.copy(shared_data / "physionet-eegbci-S001/S001R01.edf", root / sub / ses / "rest.edf")
    study = discover_study(root)
    assert study.layout == "folder" and study.subjects == ["A", "B"]
    assert study.sessions("A") == ["s1", "s2"] and set(study.recordings["datatype"]) == {"eeg"}


def test_a_plain_folder_fif_is_typed_by_its_channels(shared_data, tmp_path):
    """FIF holds MEG or EEG: the header decides, so resting_meg finds a plain folder's MEG file."""
    import neurotwin.pipeline as ntp

    root = tmp_path / "plain"
    (root / "P1").mkdir(parents=True)
    meg = shared_data / "mne-testing-data" / "SSS" / "sample_audvis_trunc_raw_sss.fif"
    (root / "P1" / "rest.fif").symlink_to(meg)
    study = discover_study(root)
    assert list(study.recordings["datatype"]) == ["meg"]  # was "ephys"
    rows, _ = ntp.load("resting_meg").select(study)
    assert len(rows) == 1


def test_plain_folder_pattern(shared_data):
    study = discover_study(
        shared_data / "physionet-eegmat", pattern=r"(?P<subject>Subject\d+)_(?P<session>\d)\.edf"
    )
    people = sorted({p.name.split("_")[0] for p in (shared_data / "physionet-eegmat").glob("Subject*_1.edf")})
    assert len(people) >= 4 and study.subjects == people
    assert study.sessions("Subject02") == ["1", "2"]
    assert discover_study(shared_data / "physionet-eegmat").subjects[0] == "Subject00_1"


def test_bad_root_and_pattern(tmp_path, sample_root):
    with pytest.raises(DataError, match="no such folder"):
        discover_study(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no recordings found"):
        discover_study(tmp_path / "empty")
    with pytest.raises(ConfigError, match="subject"):
        discover_study(sample_root, pattern=r"(?P<sub>\d+)")
    with pytest.raises(DataError, match="Did you mean '01'"):
        discover_study(sample_root).sessions("1")


def test_plain_folder_skips_non_raw_fif(shared_data):
    study = discover_study(shared_data / "mne-testing-data")
    names = {p.rsplit("/", 1)[-1] for p in study.recordings["path"]}
    assert "sample_audvis_trunc_raw_sss.fif" in names
    assert not {"sample_audvis_trunc-cov.fif", "sample_audvis_trunc-trans.fif"} & names
    assert not any("bem" in rel for rel, _ in study.problems)
