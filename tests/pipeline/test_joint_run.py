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
    text = text.replace('modalities = ["resting_eeg", "rest_fmri"]', f"modalities = {modalities}")
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "modalities, message",
    [
        ('["mri_structural"]', "a mri pipeline"),
        ('["no_such_pipeline"]', "cannot be loaded"),
        ('["resting_meg", "rest_fmri"]', "no twin joins eeg and meg and bold"),
    ],
)
def test_twin_modalities_that_cannot_be_read_are_refused_before_any_work(tmp_path, modalities, message):
    path = _pipeline(tmp_path, modalities)
    with pytest.raises(ConfigError, match=message):
        twin_sources(load_config(path))


def test_a_pipeline_without_a_second_modality_reads_only_its_own(tmp_path):
    sources = twin_sources(load_config(_pipeline(tmp_path, "[]")))
    assert [(s.name, s.modality) for s in sources] == [("resting_eeg", "eeg")]


def test_the_sample_run_gives_sub01_one_eeg_and_bold_twin_and_a_report_of_both(sample_derivatives):
    twin = TwinStore(sample_derivatives / "twins" / "twins.sqlite").load("01")
    assert twin.modality == "eeg+bold"
    assert [s.features["modalities"] for s in twin.states_] == [["eeg", "bold"], ["eeg"], ["eeg", "bold"]]
    assert TwinStore(sample_derivatives / "twins" / "twins.sqlite").load("02").modality == "eeg"
    html = (sample_derivatives / "sub-01.html").read_text()
    assert "Session 01 (BOLD)" in html and "Session 03 (BOLD)" in html
    assert "eeg + bold" in html and "at BOLD&#39;s time scale" in html
    assert (
        "Session 02 (BOLD)" not in html and "(BOLD)" not in (sample_derivatives / "sub-02.html").read_text()
    )


@pytest.mark.slow
def test_bold_arriving_later_turns_the_twin_into_a_joint_one(sample_root, tmp_path, capsys):
    root = tmp_path / "study"
    shutil.copytree(sample_root, root, ignore=shutil.ignore_patterns("sub-02", "sub-03"))
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
    assert "its twin also reads rest_fmri" in capsys.readouterr().out
