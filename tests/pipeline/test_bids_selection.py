"""BIDS studies read with their sidecars (mne-bids), and the run's selection: tasks, runs, a filter file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

import neurotwin.pipeline as ntp
from neurotwin.cli import main
from neurotwin.datasets import make_resting_eeg
from neurotwin.errors import ConfigError, DataError
from neurotwin.io import read_raw
from neurotwin.pipeline._select import read_bids_filter

PIPELINE = """
[pipeline]
name = "notched"
modality = "eeg"
tasks = ["rest*"]

[[steps]]
step = "notch"

[[steps]]
step = "bandpass"
l_freq = 1.0
h_freq = 40.0
"""


def _study(root: Path, line_freq: float = 60.0) -> Path:
    """sub-01: rest (runs 1, 2) and arithmetic; sub-02: rest. No mains in the signal; the sidecars
    say ``line_freq`` Hz."""
    from mne_bids import BIDSPath, make_dataset_description, write_raw_bids

    for k, (sub, task, run) in enumerate(
        [("01", "rest", "1"), ("01", "rest", "2"), ("01", "arith", None), ("02", "rest", None)]
    ):
        raw = make_resting_eeg(duration=20.0, sfreq=200.0, line_freq=None, blink_rate=0.0, random_state=k)
        raw.info["line_freq"] = line_freq
        raw.set_meas_date(dt.datetime(2010, 3, 1, 9, 0, tzinfo=dt.UTC))  # any 10-20-year shift stays >= 1970
        bp = BIDSPath(subject=sub, task=task, run=run, datatype="eeg", root=root)
        write_raw_bids(raw, bp, format="EDF", allow_preload=True, overwrite=True, verbose="error")
    make_dataset_description(path=root, name="selection", overwrite=True, verbose="error")
    return root


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return _study(tmp_path_factory.mktemp("sel") / "bids")


@pytest.fixture(scope="module")
def pipeline_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipe") / "notched.toml"
    path.write_text(PIPELINE)
    return path


def test_the_sidecars_power_line_frequency_is_what_the_notch_removes(study, tmp_path):
    """The signal has no mains peak, so detection would find none: the 60 Hz notch comes from _eeg.json."""
    fname = next(study.rglob("sub-02_task-rest_eeg.edf"))
    assert read_raw(fname).info["line_freq"] is None  # the EDF itself does not say
    raw = read_raw(fname, bids_root=study)
    assert raw.info["line_freq"] == 60.0
    from neurotwin.pipeline.steps.filters import Notch, detect_line_freq

    assert detect_line_freq(raw) is None
    log = {}
    Notch().apply(raw.copy(), log=log)
    nyquist = raw.info["sfreq"] / 2
    assert log == {"line_freq": 60.0, "freqs": [60.0 * k for k in (1, 2, 3) if 60.0 * k < nyquist - 1]}


def test_sidecar_bad_channels_and_events_apply_and_birthdays_do_not(study, tmp_path):
    root = tmp_path / "bids"
    import shutil

    shutil.copytree(study, root)
    eeg = root / "sub-02" / "eeg"
    channels = pd.read_csv(eeg / "sub-02_task-rest_channels.tsv", sep="\t", dtype=str)
    channels.loc[channels["name"] == "O1", "status"] = "bad"
    channels.to_csv(eeg / "sub-02_task-rest_channels.tsv", sep="\t", index=False)
    pd.DataFrame(
        {
            "onset": [2.0, 5.0],
            "duration": [1.0, 1.0],
            "trial_type": ["eyes_open", "eyes_open"],
            "value": [1, 1],
            "sample": [400, 1000],
        }
    ).to_csv(eeg / "sub-02_task-rest_events.tsv", sep="\t", index=False)
    pd.DataFrame({"participant_id": ["sub-01", "sub-02"], "age": [30, 41], "sex": ["F", "M"]}).to_csv(
        root / "participants.tsv", sep="\t", index=False
    )
    raw = read_raw(
        eeg / "sub-02_task-rest_eeg.edf", bids_root=root, subject="02", keep_annotations=("eyes_open",)
    )
    assert "O1" in raw.info["bads"]
    assert list(raw.annotations.description) == ["eyes_open", "eyes_open"]
    assert not (raw.info["subject_info"] or {}).get("birthday")


def test_a_sidecar_that_contradicts_the_file_is_a_clear_error(study, tmp_path):
    import shutil

    root = tmp_path / "bids"
    shutil.copytree(study, root)
    tsv = root / "sub-02" / "eeg" / "sub-02_task-rest_channels.tsv"
    channels = pd.read_csv(tsv, sep="\t", dtype=str)
    channels.loc[channels["name"] == "O1", "name"] = "X9"  # a channel the EDF does not have
    channels.to_csv(tsv, sep="\t", index=False)
    with pytest.raises(DataError, match="sidecar") as err:
        read_raw(root / "sub-02" / "eeg" / "sub-02_task-rest_eeg.edf", bids_root=root)
    assert "sub-02_task-rest_eeg.edf" in str(err.value)


def test_a_run_takes_the_pipelines_tasks_and_lists_what_it_skips(study, pipeline_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                str(study),
                str(out),
                "participant",
                "--pipeline",
                str(pipeline_file),
                "--progress",
                "off",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "1 recording(s) skipped:" in printed
    assert "sub-01_task-arith_eeg.edf: task 'arith' is not one of this pipeline's tasks (rest*)" in printed
    made = sorted(p.name for p in out.rglob("*_desc-preproc_eeg.fif"))
    assert made == [
        "sub-01_task-rest_run-1_desc-preproc_eeg.fif",
        "sub-01_task-rest_run-2_desc-preproc_eeg.fif",
        "sub-02_task-rest_desc-preproc_eeg.fif",
    ]
    for name in made:  # every recording notched at the sidecar's 60 Hz, none by detection
        sidecar = json.loads(next(out.rglob(name.replace(".fif", ".json"))).read_text())
        assert '"line_freq": 60.0' in json.dumps(sidecar), sidecar
    status = pd.read_csv(out / "logs" / "status_notched.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert status.set_index("source").loc["sub-01/eeg/sub-01_task-arith_eeg.edf", "status"] == "skipped"
    # a later run of the other task does not mark the resting recordings as skipped
    assert (
        main(
            [
                "run",
                str(study),
                str(out),
                "participant",
                "--pipeline",
                str(pipeline_file),
                "--task",
                "arith",
                "--progress",
                "off",
            ]
        )
        == 0
    )
    status = pd.read_csv(
        out / "logs" / "status_notched.tsv", sep="\t", dtype=str, keep_default_na=False
    ).set_index("source")["status"]
    assert status["sub-01/eeg/sub-01_task-arith_eeg.edf"] == "ok"
    assert status["sub-02/eeg/sub-02_task-rest_eeg.edf"] == "ok"


def test_task_run_and_filter_file_choose_the_recordings(study, pipeline_file, tmp_path):
    pipe = ntp.load(pipeline_file)
    rows, skipped = pipe.select(study, task=["arith"])
    assert [Path(p).name for p in rows["path"]] == ["sub-01_task-arith_eeg.edf"] and len(skipped) == 3
    rows, skipped = pipe.select(study, run=["2"])
    assert [Path(p).name for p in rows["path"]] == ["sub-01_task-rest_run-2_eeg.edf"]
    assert any("run" in r for *_, r in skipped)
    filt = tmp_path / "filter.json"
    filt.write_text(json.dumps({"eeg": {"run": None}, "bold": {"task": "movie"}}))
    rows, skipped = pipe.select(study, bids_filter=filt)
    assert [Path(p).name for p in rows["path"]] == ["sub-02_task-rest_eeg.edf"]
    assert "the BIDS filter's 'eeg' query wants no run (it has '1')" in [r for *_, r in skipped]
    with pytest.raises(DataError, match="task 'rest' is not one of --task nothing"):
        pipe.run(study, tmp_path / "none", task="nothing", progress="off")


def test_a_bids_filter_file_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="no such BIDS filter file"):
        read_bids_filter(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not a readable JSON"):
        read_bids_filter(bad)
    with pytest.raises(ConfigError, match="unknown BIDS entity 'tsk'"):
        read_bids_filter({"eeg": {"tsk": "rest"}})
    with pytest.raises(ConfigError, match="a label, a list of labels or null"):
        read_bids_filter({"eeg": {"run": 1.5}})


def test_editing_a_sidecar_reruns_the_recording(study, pipeline_file, tmp_path):
    import shutil

    root = tmp_path / "bids"
    shutil.copytree(study, root)
    out = tmp_path / "out"
    pipe = ntp.load(pipeline_file)
    first = pipe.run(root, out, participant_label=["02"], progress="off")
    assert first.executed == 2
    assert pipe.run(root, out, participant_label=["02"], progress="off").executed == 0
    side = root / "sub-02" / "eeg" / "sub-02_task-rest_eeg.json"
    meta = json.loads(side.read_text())
    meta["PowerLineFrequency"] = 50
    side.write_text(json.dumps(meta))
    again = pipe.run(root, out, participant_label=["02"], progress="off")
    assert again.executed == 2
    raw_out = next(out.rglob("sub-02_task-rest_desc-preproc_eeg.json"))
    assert '"line_freq": 50.0' in raw_out.read_text()


def test_a_run_makes_the_studys_own_key_and_shifts_dates_with_it(study, pipeline_file, tmp_path, monkeypatch):
    import mne

    from neurotwin._keys import deid_key, study_key_path

    monkeypatch.delenv("NEUROTWIN_DEID_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    ntp.load(pipeline_file).run(study, out, participant_label=["02"], progress="off")
    key = study_key_path(out)
    assert oct(key.stat().st_mode & 0o777) == "0o600" and deid_key(out_dir=out) != deid_key()
    fname = next(study.rglob("sub-02_task-rest_eeg.edf"))
    expected = read_raw(fname, bids_root=study, subject="02", secret=key.read_bytes()).info["meas_date"]
    made = mne.io.read_raw_fif(next(out.rglob("sub-02_*_eeg.fif")), verbose="error").info["meas_date"]
    assert made is not None and made == expected  # shifted with the study's key
