"""Which head a study's twin takes: the subject's FreeSurfer folder and transform, or the template's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from neurotwin.errors import ConfigError
from neurotwin.pipeline._twins import _anatomy
from neurotwin.pipeline.config import TwinSettings


def _study(tmp_path, where="freesurfer", trans=True, raw_trans=False):
    folder = tmp_path / "derivatives" / where / "sub-01"
    (folder / "bem").mkdir(parents=True)
    if trans:
        (folder / "sub-01_trans.fif").write_bytes(b"")
    if raw_trans:
        (tmp_path / "sub-01" / "ses-01" / "meg").mkdir(parents=True)
        (tmp_path / "sub-01" / "ses-01" / "meg" / "sub-01_ses-01_trans.fif").write_bytes(b"")
    return SimpleNamespace(root=tmp_path), folder


@pytest.mark.parametrize("where", ["freesurfer", "freesurfer/subjects"])
def test_the_subjects_own_head_is_found(tmp_path, where):
    study, folder = _study(tmp_path, where)
    got = _anatomy(TwinSettings(), study, "01", "eeg")
    assert got == {
        "subjects_dir": str(folder.parent),
        "subject": "sub-01",
        "trans": str(folder / "sub-01_trans.fif"),
        "bem": None,
    }
    assert _anatomy(TwinSettings(), study, "01", "meg+bold")["subject"] == "sub-01"
    # not for BOLD, not when the template is asked for, not for another subject
    assert _anatomy(TwinSettings(), study, "01", "bold") is None
    assert _anatomy(TwinSettings(anatomy="template"), study, "01", "eeg") is None
    assert _anatomy(TwinSettings(), study, "02", "eeg") is None
    with pytest.raises(ConfigError, match="no FreeSurfer folder"):
        _anatomy(TwinSettings(anatomy="subject"), study, "02", "eeg")


def test_the_transform_may_be_in_the_raw_folders_but_must_be_one(tmp_path, caplog):
    study, _ = _study(tmp_path, trans=False, raw_trans=True)
    assert _anatomy(TwinSettings(), study, "01", "meg")["trans"].endswith("sub-01_ses-01_trans.fif")
    study, _ = _study(tmp_path / "none", trans=False)
    with caplog.at_level("WARNING", logger="neurotwin"):
        assert _anatomy(TwinSettings(), study, "01", "eeg") is None
    assert "no head-to-MRI transform" in caplog.text and "template head" in caplog.text
    with pytest.raises(ConfigError, match="no head-to-MRI transform"):
        _anatomy(TwinSettings(anatomy="subject"), study, "01", "eeg")
    study, folder = _study(tmp_path / "two")
    (folder / "bem" / "other-trans.fif").write_bytes(b"")
    with pytest.raises(ConfigError, match="2 transforms"):
        _anatomy(TwinSettings(anatomy="subject"), study, "01", "eeg")
