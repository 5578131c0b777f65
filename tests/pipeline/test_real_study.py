"""The pipelines on a BIDS study built from the real recordings in ``../shared/data``."""

from __future__ import annotations

import json

import mne
import numpy as np
import pandas as pd
import pytest

import neurotwin.pipeline as ntp
from neurotwin.cli import main
from neurotwin.io.derivatives import STORE_NAME
from neurotwin.twin import Twin, TwinStore

from .test_runner import check_bids_derivatives

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def eeg_run(real_eeg_result):
    return real_eeg_result  # the session's one run of the default pipeline on the real study


def test_resting_eeg_on_real_recordings(eeg_run):
    out, result = eeg_run
    summary = result.summary()
    # 7 EEG recordings, the 2 segmentations that the twin's mri_structural pipeline reads, and the
    # sample person's MEG that its resting_meg pipeline reads: 1 s, refused by name (too short for
    # ICA), which makes the run a partial failure (exit 3) and stops nothing else
    meg = summary["source"].str.endswith("_meg.fif")
    assert result.exit_code == 3, summary[summary["status"] != "ok"].to_string()
    assert len(summary) == 10 and (summary.loc[~meg, "status"] == "ok").all()
    assert (summary.loc[meg, "status"] == "failed").all() and meg.sum() == 1
    assert summary.loc[meg, "error"].str.contains("shorter than min_duration").all()
    assert summary["source"].str.endswith("_dseg.mgz").sum() == 2
    check_bids_derivatives(out)
    side = json.loads((out / "sub-eegbci/eeg/sub-eegbci_task-rest_run-02_desc-preproc_epo.json").read_text())
    steps = {s["step"]: s["log"] for s in side["Steps"]}
    # eyes-closed occipital alpha is brain activity, not a bad channel
    assert not {"O1", "O2", "Oz"} & set(steps["detect_bads"]["bads"])
    assert {"O1", "O2"} <= set(steps["detect_bads"]["kept_correlated"])
    assert steps["epochs"]["n_kept"] >= 0.5 * steps["epochs"]["n_total"]
    epo = mne.read_epochs(
        out / "sub-eegmat00/eeg/sub-eegmat00_task-rest_desc-preproc_epo.fif", verbose="error"
    )
    assert epo.info["sfreq"] == 250.0 and "ECG" in epo.ch_names
    assert epo.info["subject_info"] is None or "birthday" not in epo.info["subject_info"]


def test_real_rerun_does_nothing(eeg_run, real_study):
    out, _ = eeg_run
    again = ntp.load("resting_eeg").run(real_study, out, progress="off")
    assert again.executed == 0 and again.exit_code == 3  # (the too-short MEG is refused again)


def test_real_eyes_closed_run_keeps_more_occipital_alpha(eeg_run):
    out, _ = eeg_run

    def alpha(run):
        epo = mne.read_epochs(
            out / f"sub-eegbci/eeg/sub-eegbci_task-rest_run-0{run}_desc-preproc_epo.fif", verbose="error"
        )
        psd = epo.compute_psd(fmin=8, fmax=13, picks=["O1", "Oz", "O2"], verbose="error")
        return psd.get_data().mean()

    assert alpha(2) > 1.5 * alpha(1)  # R02 eyes closed vs R01 eyes open


def test_mri_structural_on_real_label_volumes(real_study, tmp_path):
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                str(real_study),
                str(out),
                "participant",
                "--pipeline",
                "mri_structural",
                "--progress",
                "off",
            ]
        )
        == 0
    )
    check_bids_derivatives(out)
    assert main(["run", str(real_study), str(out), "group", "--pipeline", "mri_structural"]) == 0
    table = pd.read_csv(out / "group/mri_structural_desc-volumes_morph.tsv", sep="\t")
    assert set(table["subject"]) == {"ecog", "mnesample"}
    hippo = table[table["name"] == "Left-Hippocampus"].set_index("subject")["volume_mm3"]
    assert ((hippo > 2000) & (hippo < 6000)).all()
    ecog = table[table["subject"] == "ecog"]
    assert ecog["name"].str.startswith("ctx-lh-").sum() >= 30  # aparc cortical labels


def test_meg_on_the_real_sample(real_study, tmp_path):
    # the sample MEG holds 1 s: the resting pipeline refuses it by name (too short for ICA) ...
    res = ntp.load("resting_meg").run(real_study, tmp_path / "a", progress="off")
    assert res.exit_code == 4 and "shorter than min_duration" in res.tasks[0].recordings[0]["error"]
    # ... and a pipeline fit for 1 s runs
    text = (ntp.config.BUILTIN_DIR / "resting_meg.toml").read_text()
    text = text.split('[[steps]]\nstep = "ica"')[0] + '[[steps]]\nstep = "epochs"\nlength = 0.5\n'
    short = tmp_path / "short_meg.toml"
    short.write_text(text)
    res = ntp.load(short).run(real_study, tmp_path / "b", progress="off")
    assert res.exit_code == 0
    epo = mne.read_epochs(next((tmp_path / "b").glob("sub-*/meg/*_epo.fif")), verbose="error")
    assert len(mne.pick_types(epo.info, meg=True)) == 306 and np.isfinite(epo.get_data()).all()


def test_meg_twin_through_the_pipeline(few_meg, tvb76, shared_data, tmp_path, monkeypatch):
    """resting_meg's twin, end to end, on a minute drawn from a MEG twin of the sample person's sensors.

    (The real sample holds 1 s: too short for the pipeline's ICA and 2-s epochs, above.) The
    template's cortex comes from tvb-data, as if installed (the ``tvb`` extra).
    """
    tvb = str(shared_data / "tvb-data-3.0.0")
    monkeypatch.syspath_prepend(tvb)
    monkeypatch.setenv("PYTHONPATH", tvb)
    seed = Twin("sample", modality="meg", connectome=tvb76).fit(few_meg)
    raw = seed.simulate(60.0, sfreq=250.0, random_state=0)
    (tmp_path / "plain" / "P1").mkdir(parents=True)
    raw.save(tmp_path / "plain" / "P1" / "rest_raw.fif", verbose="error")
    out = tmp_path / "out"
    res = ntp.load("resting_meg").run(tmp_path / "plain", out, progress="off")
    assert res.exit_code == 0, [r.get("error") for t in res.tasks for r in t.recordings]
    twin = TwinStore(out / STORE_NAME, create=False).load(res.tasks[0].subject)
    state = twin.states_[0]
    assert twin.modality == "meg" and state.features["channels"] == raw.ch_names
    assert state.features["head"].startswith("tvb cortex")
    assert "head points" in state.features["positions"]  # the simulated head's own sphere
    assert state.diagnostics["r_log_psd"] > 0.8
    html = (out / f"sub-{res.tasks[0].subject}.html").read_text()
    assert "MEG forward model" in html


def test_meg_twin_in_the_subjects_own_head(few_meg, tvb76, shared_data, tmp_path, monkeypatch, capsys):
    """With the subject's FreeSurfer folder and transform in the study, the pipeline's twin takes its
    own head (the MNE sample person's MRI, BEM and transform, linked, not copied); a transform that
    does not belong to the recording fails that subject's twin with the reason, not the run."""
    tvb = str(shared_data / "tvb-data-3.0.0")
    monkeypatch.syspath_prepend(tvb)
    monkeypatch.setenv("PYTHONPATH", tvb)
    seed = Twin("sample", modality="meg", connectome=tvb76).fit(few_meg)
    raw = seed.simulate(60.0, sfreq=250.0, random_state=0)  # the sample person's sensors and head sphere
    study = tmp_path / "plain"
    (study / "P1").mkdir(parents=True)
    raw.save(study / "P1" / "rest_raw.fif", verbose="error")
    fs = study / "derivatives" / "freesurfer" / "sub-P1"
    fs.mkdir(parents=True)
    sample = shared_data / "mne-testing-data" / "subjects" / "sample"
    for name in ("bem", "mri"):
        (fs / name).symlink_to(sample / name)
    trans = fs / "sub-P1_trans.fif"
    trans.symlink_to(shared_data / "mne-testing-data" / "MEG" / "sample" / "sample_audvis_trunc-trans.fif")
    out = tmp_path / "out"
    res = ntp.load("resting_meg").run(study, out, progress="off")
    assert res.exit_code == 0, [r.get("error") for t in res.tasks for r in t.recordings]
    twin = TwinStore(out / STORE_NAME, create=False).load("P1")
    state = twin.states_[0]
    assert twin.anatomy["subject"] == "sub-P1" and twin.anatomy["trans"] == str(trans)
    assert "sub-P1's head (BEM (1 layer))" in state.features["head"]
    assert state.features["anatomy"]["coregistration"]["mm"] < 10
    html = (out / "sub-P1.html").read_text()
    assert "head-to-MRI transform" in html and "inner skull" in html
    capsys.readouterr()
    assert main(["twin", "show", str(out), "P1"]) == 0
    assert "sub-P1's head (BEM (1 layer)); the subject's own (transform check: median distance" in (
        capsys.readouterr().out
    )
    # a transform that was never fitted (the identity): the twin fails with the reason
    trans.unlink()
    mne.write_trans(trans, mne.transforms.Transform("head", "mri", np.eye(4)))
    res = ntp.load("resting_meg").run(study, tmp_path / "out2", progress="off")
    twins = pd.read_csv(next((tmp_path / "out2").rglob("*twins*.tsv")), sep="\t")
    row = twins.set_index("subject").loc["P1"]
    assert row["status"] == "failed" and "does not match this recording" in row["error"]
