"""One twin from several pipelines' features: the participant run over EEG + BOLD, ``twin fit``."""

from __future__ import annotations

import shutil

import pytest

from neurotwin.cli import main
from neurotwin.errors import ConfigError
from neurotwin.pipeline import load_config
from neurotwin.pipeline._sources import twin_sources
from neurotwin.pipeline.config import BUILTIN_DIR
from neurotwin.twin import TwinStore


def _pipeline(tmp_path, modalities: str):
    text = (BUILTIN_DIR / "resting_eeg.toml").read_text()
    line = 'modalities = ["resting_eeg", "resting_meg", "rest_fmri", "mri_structural"]'
    assert line in text
    path = tmp_path / "p.toml"
    path.write_text(text.replace(line, f"modalities = {modalities}"))
    mri = (BUILTIN_DIR / "mri_structural.toml").read_text().replace('"mri_structural"', '"mri_other"')
    (tmp_path / "mri_other.toml").write_text(mri)  # a second MRI pipeline, beside it
    return path


@pytest.mark.parametrize(
    "modalities, message",
    [
        ('["mri_structural", "mri_other.toml"]', "two mri pipelines"),
        ('["no_such_pipeline"]', "cannot be loaded"),
    ],
)
def test_twin_modalities_that_cannot_be_read_are_refused_before_any_work(tmp_path, modalities, message):
    path = _pipeline(tmp_path, modalities)
    with pytest.raises(ConfigError, match=message):
        twin_sources(load_config(path))


def test_a_pipeline_without_a_second_modality_reads_only_its_own(tmp_path):
    sources = twin_sources(load_config(_pipeline(tmp_path, "[]")))
    assert [(s.name, s.modality) for s in sources] == [("resting_eeg", "eeg")]


def test_an_mri_pipeline_is_read_for_volumes_not_as_a_fitted_modality(tmp_path):
    sources = twin_sources(load_config(_pipeline(tmp_path, '["mri_structural"]')))
    assert [(s.name, s.modality) for s in sources] == [("resting_eeg", "eeg"), ("mri_structural", "mri")]


def test_the_sample_run_gives_sub01_one_eeg_meg_and_bold_twin_and_a_report_of_all(sample_derivatives):
    twin = TwinStore(sample_derivatives / "twins" / "twins.sqlite").load("01")
    assert twin.modality == "eeg+meg+bold"
    assert [s.features["modalities"] for s in twin.states_] == [
        ["eeg", "meg", "bold"],
        ["eeg", "meg"],
        ["eeg", "meg", "bold"],
    ]
    # the session's EEG and MEG recordings, each part from its own (the MEG's tagged meg:)
    parts = twin.states_[0].features["parts"]["eeg+meg"]["parts"]
    assert all(c.startswith("MEG") for c in parts["meg"]["channels"]) and "O1" in parts["eeg"]["channels"]
    assert parts["meg"]["head"] == "region centres (their orientations)"
    assert twin.states_[0].diagnostics["meg_r_log_psd"] > 0.8
    assert TwinStore(sample_derivatives / "twins" / "twins.sqlite").load("02").modality == "eeg"
    html = (sample_derivatives / "sub-01.html").read_text()
    assert "Session 01 (BOLD)" in html and "Session 03 (BOLD)" in html
    assert all(f"Session 0{k} (MEG)" in html for k in (1, 2, 3))
    assert "eeg + meg + bold" in html and "at BOLD&#39;s time scale" in html
    assert "electrodes for the EEG and a sphere fitted to the head" in html  # one network, both sensors
    # the MRI sessions' regional volumes are kept with the states of the same session, and shown
    kept = [s.features.get("volumes") for s in twin.states_]
    assert kept[1] is None and kept[0]["location"] == kept[2]["location"]
    assert len(kept[0]["location"]) == 42 and all(se > 0 for se in kept[0]["se"])
    table = twin.volumes()
    assert list(table["session"].unique()) == ["01", "03"]
    assert (table["low"] < table["value"]).all() and (table["value"] < table["high"]).all()
    assert "Regional volumes" in html and "Every region's volume" in html
    assert "eeg + meg + bold (+ volumes)" in html and "Session 01 (MRI)" in html
    assert (
        "Session 02 (BOLD)" not in html and "(BOLD)" not in (sample_derivatives / "sub-02.html").read_text()
    )


@pytest.mark.slow
def test_bold_arriving_later_turns_the_twin_into_a_joint_one(sample_root, tmp_path, capsys):
    root = tmp_path / "study"
    # (without sub-01's MEG: a twin of EEG, then of EEG and BOLD)
    shutil.copytree(sample_root, root, ignore=shutil.ignore_patterns("sub-02", "sub-03", "meg"))
    held = tmp_path / "held"
    shutil.move(root / "sub-01/ses-01/func", held)  # the first session has EEG only
    out = tmp_path / "out"
    argv = ["run", str(root), str(out), "participant", "--progress", "off", "--no-reports"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    store = TwinStore(out / "twins" / "twins.sqlite")
    assert store.load("01").modality == "eeg"
    assert "its first session (ses-01) has no bold features" in printed
    shutil.move(held, root / "sub-01/ses-01/func")  # now it has both: the twin is refitted as one
    assert main(argv) == 0
    twin = store.load("01")
    assert twin.modality == "eeg+bold" and len(twin.states_) == 3
    assert [s.features["modalities"] for s in twin.states_][0] == ["eeg", "bold"]
    capsys.readouterr()
    assert main(argv) == 0  # nothing new: nothing refitted
    assert " 01 eeg+bold 01,02,03      0     ok" in capsys.readouterr().out
    assert main(["twin", "fit", str(out), "01"]) == 0
    assert "eeg+bold twin refitted from 3 session(s) (01,02,03)" in capsys.readouterr().out
    assert main(["twin", "show", str(out), "01"]) == 0
    shown = capsys.readouterr().out
    assert "modalities" in shown and "eeg+bold" in shown and "bold 0." in shown


def test_twin_fit_needs_a_derivatives_folder(tmp_path, capsys):
    assert main(["twin", "fit", str(tmp_path), "01"]) == 2
    assert "not a derivatives folder" in capsys.readouterr().err


def test_pipeline_check_refuses_a_twin_modality_it_cannot_load(tmp_path, capsys):
    assert main(["pipeline", "check", str(_pipeline(tmp_path, '["rest_fmr"]'))]) == 2
    assert "Did you mean 'rest_fmri'?" in capsys.readouterr().err
    assert main(["pipeline", "check", "resting_eeg"]) == 0
    assert "its twin also reads resting_meg, rest_fmri" in capsys.readouterr().out


def test_volumes_join_the_twin_session_of_their_label_and_others_are_noted(sample_root):
    from pathlib import Path

    from neurotwin.io import discover_study
    from neurotwin.pipeline._sources import _plan

    found = {
        "eeg": {"01": Path("e1_features.tsv"), "02": Path("e2_features.tsv")},
        "mri": {"01": Path("m1_features.tsv"), "05": Path("m5_features.tsv")},
    }
    settings = load_config("resting_eeg").twin
    modality, sessions, days, notes = _plan(discover_study(sample_root), "02", found, settings)
    assert modality == "eeg" and days == {"01": 0.0, "02": 90.0}
    assert sessions == {
        "01": {"eeg": Path("e1_features.tsv"), "mri": Path("m1_features.tsv")},
        "02": {"eeg": Path("e2_features.tsv")},
    }
    assert notes == ["m5_features.tsv: ses-05 has no twin session; its volumes are not in the twin"]
