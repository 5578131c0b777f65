"""Sessions as real studies have them: same-day sessions, several tasks and runs, bad or missing times.

The shape that once failed every twin of a 36-person study: two sessions
recorded the same day, rest then mental arithmetic, made here with the
simulator and mne-bids.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import neurotwin.pipeline as ntp
from neurotwin.datasets import make_connectome, make_resting_eeg
from neurotwin.datasets.synthetic import write_tvb_zip
from neurotwin.errors import DataError
from neurotwin.io.sessions import session_days
from neurotwin.pipeline._twins import choose_recordings

PIPELINE = """
[pipeline]
name = "sessions"
modality = "eeg"

[[steps]]
step = "bandpass"
l_freq = 1.0
h_freq = 40.0

[[steps]]
step = "epochs"
length = 2.0
save = true

[[steps]]
step = "features"
features = ["psd", "iaf"]
n_blocks = 0

[twin]
modality = "eeg"
connectome = "subject"
"""


def _study(root: Path) -> Path:
    """sub-01: ses-01 rest and arithmetic, ses-02 rest, all one morning; sub-02: the same with two
    resting runs in ses-02."""
    from mne_bids import BIDSPath, make_dataset_description, write_raw_bids

    day = dt.datetime(2001, 5, 3, 9, 0, tzinfo=dt.UTC)
    recordings = [
        ("01", "01", "rest", None, 0),
        ("01", "01", "arithmetic", None, 5),
        ("01", "02", "rest", None, 10),
        ("02", "01", "rest", None, 0),
        ("02", "01", "arithmetic", None, 5),
        ("02", "02", "rest", "1", 10),
        ("02", "02", "rest", "2", 15),
    ]
    for k, (sub, ses, task, run, minutes) in enumerate(recordings):
        raw = make_resting_eeg(
            duration=30.0,
            sfreq=128.0,
            alpha_freq=10.0 if task == "rest" else 11.0,
            line_freq=None,
            blink_rate=0.0,
            random_state=k,
        )
        raw.set_meas_date(day + dt.timedelta(minutes=minutes) if minutes != 10 else day)
        bp = BIDSPath(subject=sub, session=ses, task=task, run=run, datatype="eeg", root=root)
        write_raw_bids(raw, bp, format="EDF", allow_preload=True, overwrite=True, verbose="error")
    for i, sub in enumerate(("01", "02")):
        folder = root / "derivatives" / "connectomes" / f"sub-{sub}"
        folder.mkdir(parents=True)
        write_tvb_zip(make_connectome(12, random_state=i), folder / f"sub-{sub}_connectome.zip")
    make_dataset_description(path=root, name="same-day", dataset_type="raw", overwrite=True, verbose="error")
    return root


@pytest.fixture(scope="module")
def same_day(tmp_path_factory):
    root = _study(tmp_path_factory.mktemp("sameday") / "study")
    cfg = tmp_path_factory.mktemp("cfg") / "sessions.toml"
    cfg.write_text(PIPELINE)
    out = root.parent / "out"
    result = ntp.load(cfg).run(root, out, progress="off", reports=False)
    return root, out, result


@pytest.mark.slow
def test_same_day_sessions_and_tasks_fit_one_twin_each(same_day):
    root, out, result = same_day
    assert result.exit_code == 0, result.twins
    twins = result.twins.set_index("subject")
    assert (twins["status"] == "ok").all(), twins["error"].tolist()
    # the resting sessions only: the arithmetic task is left out, and said so
    assert (twins["sessions"] == "01,02").all()
    assert all("task 'arithmetic'" in n for n in twins["notes"])
    assert "run-2" in twins.loc["02", "notes"] and "takes the first" in twins.loc["02", "notes"]
    from neurotwin.twin import TwinStore

    twin = TwinStore(out / "twins" / "twins.sqlite").load("01")
    assert [s.at for s in twin.states_] == [0.0, 0.0]
    assert twin.states_[1].diagnostics["gap_days"] == 0.0
    assert len(twin.forecast(7.0)) > 0  # no trend over one day: the last level, widened


def test_recordings_rule():
    names = [
        "sub-1_ses-1_task-rest_run-10_desc-d_features.tsv",
        "sub-1_ses-1_task-rest_run-2_desc-d_features.tsv",
        "sub-1_ses-2_task-nback_desc-d_features.tsv",
    ]
    chosen, skipped = choose_recordings([Path(n) for n in names])
    assert chosen == {"1": Path(names[1])} and len(skipped) == 2
    chosen, _ = choose_recordings([Path(n) for n in names], task="nback")
    assert chosen == {"2": Path(names[2])}
    with pytest.raises(Exception, match="none of them a resting one"):
        choose_recordings([Path("sub-1_ses-1_task-a_features.tsv"), Path("sub-1_ses-1_task-b_features.tsv")])
    only, _ = choose_recordings([Path("sub-1_ses-1_task-nback_features.tsv")])
    assert list(only) == ["1"]


def _scans(root: Path, sub: str, ses: str, times: list[str]) -> None:
    folder = root / f"sub-{sub}" / f"ses-{ses}"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"filename": [f"eeg/x{i}.edf" for i in range(len(times))], "acq_time": times}).to_csv(
        folder / f"sub-{sub}_ses-{ses}_scans.tsv", sep="\t", index=False
    )


def test_acquisition_times_are_iso_or_an_error(tmp_path):
    _scans(tmp_path, "01", "01", ["2000-04-09T10:00:00"])
    _scans(tmp_path, "01", "02", ["2000-04-09T10:00:00", "n/a"])
    _scans(tmp_path, "01", "03", ["2000-05-09T10:00:00Z"])
    assert session_days(tmp_path, "01", ["01", "02", "03"]) == {"01": 0.0, "02": 0.0, "03": 30.0}
    _scans(tmp_path, "01", "02", ["2000-04-09T10:00:00", "09.04.2000"])
    with pytest.raises(DataError, match=r"sub-01_ses-02_scans.tsv: row 3 has acq_time '09.04.2000'"):
        session_days(tmp_path, "01", ["01", "02", "03"])
    scans = tmp_path / "sub-01" / "ses-02" / "sub-01_ses-02_scans.tsv"
    scans.write_bytes(b"filename\tacq_time\n\xff\xfe\n")
    with pytest.raises(DataError, match="UTF-8"):
        session_days(tmp_path, "01", ["01", "02", "03"])
    _scans(tmp_path, "01", "02", ["n/a"])  # one unknown time: no spacing is made up
    assert session_days(tmp_path, "01", ["01", "02", "03"]) == {"01": 0.0, "02": 0.0, "03": 0.0}


@pytest.mark.slow
def test_a_bad_acquisition_time_fails_the_twin_with_a_clear_error(same_day, tmp_path):
    """A planted non-ISO acq_time never changes an alert silently: the subject's twin fails, named."""
    import shutil

    root, out, _ = same_day
    study = tmp_path / "study"
    shutil.copytree(root, study)
    scans = study / "sub-02" / "ses-02" / "sub-02_ses-02_scans.tsv"
    table = pd.read_csv(scans, sep="\t", dtype=str)
    table.loc[0, "acq_time"] = "03.05.2001 09:00"
    table.to_csv(scans, sep="\t", index=False)
    cfg = tmp_path / "sessions.toml"
    cfg.write_text(PIPELINE)
    result = ntp.load(cfg).run(study, tmp_path / "out", progress="off", reports=False)
    twins = result.twins.set_index("subject")
    assert twins.loc["01", "status"] == "ok"
    assert twins.loc["02", "status"] == "failed"
    assert "sub-02_ses-02_scans.tsv: row 2 has acq_time '03.05.2001 09:00'" in twins.loc["02", "error"]
    assert result.exit_code == 3


def _outputs(out: Path) -> dict:
    """What a run leaves: derivative content hashes, the twins table, the twins' states (no timings)."""
    import json
    import sqlite3

    hashes = {
        str(p.relative_to(out)): json.loads(p.read_text())["neurotwin"]["ContentHash"]
        for p in sorted(out.glob("sub-*/**/*.json"))
    }
    # ('added' is what the last run did, not a result)
    twins = pd.read_csv(out / "logs" / "twins_sessions.tsv", sep="\t", dtype=str).drop(columns="added")
    twins = twins.to_csv()
    with sqlite3.connect(out / "twins" / "twins.sqlite") as con:
        query = "SELECT twin_id, idx, session, at, meta, arrays FROM states ORDER BY 1, 2"
        rows = con.execute(query).fetchall()
    states = []
    for tid, idx, ses, at, meta, arrays in rows:
        meta = json.loads(meta)
        meta.get("diagnostics", {}).pop("seconds", None)
        states.append((tid, idx, ses, at, json.dumps(meta, sort_keys=True), arrays))
    return {"hashes": hashes, "twins": twins, "states": states}


@pytest.mark.slow
def test_kill_9_at_five_points_with_two_jobs_changes_nothing(same_day, tmp_path):
    """Killed (the whole process group, as a crash) five times, then rerun: the outputs equal an
    uninterrupted run's."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root, reference, _ = same_day
    cfg = tmp_path / "sessions.toml"
    cfg.write_text(PIPELINE)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-c",
        "import sys; from neurotwin.cli import main; sys.exit(main())",
        "run",
        str(root),
        str(out),
        "participant",
        "--pipeline",
        str(cfg),
        "--jobs",
        "2",
        "--progress",
        "off",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = 0
    for delay in (1.5, 3.0, 4.5, 6.5, 9.0):  # start-up, reading, recordings, twins
        child = subprocess.Popen(
            cmd, start_new_session=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            killed += 1
        child.wait(timeout=60)
    assert killed >= 5
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _outputs(out) == _outputs(reference)


@pytest.mark.slow
def test_a_session_processed_after_a_later_one_is_inserted_in_time_order(same_day, tmp_path):
    """ses-02 run first (alone), then the rest: the twin ends as if fitted in order."""
    root, reference, _ = same_day
    cfg = tmp_path / "sessions.toml"
    cfg.write_text(PIPELINE)
    out = tmp_path / "out"
    pipe = ntp.load(cfg)
    first = pipe.run(root, out, session_label=["02"], progress="off", reports=False)
    assert (first.twins["sessions"] == "02").all()
    again = pipe.run(root, out, progress="off", reports=False)
    assert again.exit_code == 0 and (again.twins["sessions"] == "01,02").all()
    assert (again.twins["added"] == 2).all()  # ses-01 inserted, ses-02 refitted on top of it
    assert _outputs(out)["states"] == _outputs(reference)["states"]


@pytest.mark.slow
def test_a_damaged_state_blocks_only_itself_in_the_report(same_day, tmp_path):
    import shutil
    import sqlite3

    from neurotwin.report import subject_report

    _, reference, _ = same_day
    out = tmp_path / "out"
    shutil.copytree(reference, out, symlinks=True)
    with sqlite3.connect(out / "twins" / "twins.sqlite") as con:
        con.execute("UPDATE states SET sha256 = 'x' WHERE idx = 1")
    html = subject_report(out, "01", _config(tmp_path)).read_text()
    assert "1 state(s)" in html and "state 1 (ses-02) is damaged and left out" in html


def _config(tmp_path: Path):
    cfg = tmp_path / "sessions.toml"
    cfg.write_text(PIPELINE)
    return ntp.load(cfg).config


@pytest.mark.slow
def test_the_twin_phase_runs_on_two_processes_with_progress(same_day, tmp_path, capsys):
    """One task a subject on the process pool, each reported as it ends; the store equals the serial one."""
    import shutil

    from neurotwin.pipeline._twins import STORE_NAME, run_twins

    root, reference, _ = same_day
    out = tmp_path / "out"
    shutil.copytree(reference, out, symlinks=True)
    shutil.rmtree(out / STORE_NAME.parent)
    from neurotwin.io import discover_study

    table = run_twins(_config(tmp_path), discover_study(root), out, ["01", "02"], jobs=2, progress="lines")
    assert (table["status"] == "ok").all()
    lines = [line for line in capsys.readouterr().err.splitlines() if "twin sub-" in line]
    assert sorted(line.split("]")[0] for line in lines) == ["[1/2", "[2/2"]
    assert all(": ok (sessions 01,02, 2 fitted" in line for line in lines)
    assert _outputs(out)["states"] == _outputs(reference)["states"]
