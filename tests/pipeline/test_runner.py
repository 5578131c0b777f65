"""The runner: BIDS derivatives, caching, failure isolation, interruption, CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest

import neurotwin.pipeline as ntp
from neurotwin.cli import main
from neurotwin.datasets import SAMPLE_TRUTH
from neurotwin.errors import ConfigError
from neurotwin.pipeline import _artifacts
from neurotwin.pipeline.config import BUILTIN_DIR

N_STEPS = len(ntp.load("resting_eeg").config.steps)

BIDS_NAME = re.compile(
    r"^sub-[A-Za-z0-9]+(_ses-[A-Za-z0-9]+)?(_[a-z]+-[A-Za-z0-9]+)*_[A-Za-z0-9]+"
    r"\.(fif|json|tsv|npz|nii\.gz)$"
)


def _derivative_files(out: Path) -> list[Path]:
    """Files under the sub-* folders (reports sit beside them, listed in .bidsignore, as fMRIPrep's)."""
    ignored = (out / ".bidsignore").read_text().split()
    assert "*.html" in ignored and "twins/" in ignored
    return sorted(
        p
        for p in out.rglob("*")
        if p.is_file()
        and p.relative_to(out).parts[0].startswith("sub-")
        and len(p.relative_to(out).parts) > 1
    )


def check_bids_derivatives(out: Path) -> None:
    """Every output is BIDS-named, in the folder its entities say, with a sidecar."""
    from mne_bids import get_entities_from_fname

    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative"
    assert desc["GeneratedBy"][0]["Name"] == "neurotwin" and desc["GeneratedBy"][0]["Version"]
    files = _derivative_files(out)
    assert files
    for f in files:
        assert BIDS_NAME.match(f.name), f.name
        ents = get_entities_from_fname(f.name, on_error="raise")
        rel = f.relative_to(out).parts
        assert rel[0] == f"sub-{ents['subject']}"
        if ents["session"]:
            assert rel[1] == f"ses-{ents['session']}"
        if f.suffix != ".json":
            stem = f.name[: -len(".nii.gz")] if f.name.endswith(".nii.gz") else f.name.rsplit(".", 1)[0]
            sidecar = json.loads((f.parent / f"{stem}.json").read_text())
            assert sidecar["Sources"][0].startswith("bids:raw:sub-")
            assert len(sidecar["neurotwin"]["ContentHash"]) == 64


def _hashes(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): json.loads(p.read_text())["neurotwin"]["ContentHash"]
        for p in out.glob("sub-*/**/*.json")
    }


def _edit(tmp_path: Path, old: str, new: str, name="resting_eeg") -> Path:
    text = (BUILTIN_DIR / f"{name}.toml").read_text()
    assert old in text
    path = tmp_path / f"{name}_edited.toml"
    path.write_text(text.replace(old, new))
    return path


def copy_keeping_links(src: Path, dst: Path) -> Path:
    """Copy a folder, files hard-linked to each other staying so (the step cache shares its blocks
    with the derivatives), the copy linked to nothing outside it."""
    first: dict[tuple[int, int], Path] = {}
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path.readlink())
        elif path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            st = path.stat()
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in first:
                target.hardlink_to(first[key])
            else:
                shutil.copy2(path, target)
                first[key] = target
    return dst


@pytest.fixture(scope="module")
def sample_run(sample_derivatives, tmp_path_factory) -> Path:
    """A copy of the README's main job (:func:`sample_derivatives`, every subject), for the tests
    here that rerun it (no test runs the whole sample pipeline on its own)."""
    return copy_keeping_links(sample_derivatives, tmp_path_factory.mktemp("deriv") / "out")


def test_copy_keeps_links_inside_and_none_to_the_source(tmp_path):
    src = tmp_path / "a"
    src.mkdir()
    (src / "f").write_text("x")
    (src / "g").hardlink_to(src / "f")
    dst = copy_keeping_links(src, tmp_path / "b")
    assert (dst / "f").stat().st_ino == (dst / "g").stat().st_ino != (src / "f").stat().st_ino


def test_sample_run_completes_as_bids_derivatives(sample_run, sample_root):
    out = sample_run
    status = pd.read_csv(out / "logs/status_resting_eeg.tsv", sep="\t", dtype=str)
    assert (status["subject"] == "01").sum() == 3 and not status["error"].notna().any()
    check_bids_derivatives(out)
    epo = mne.read_epochs(
        out / "sub-01/ses-02/eeg/sub-01_ses-02_task-rest_desc-preproc_epo.fif", verbose="error"
    )
    assert epo.info["sfreq"] == 128.0 and epo.info["bads"] == []  # T7 found and interpolated
    side = json.loads((out / "sub-01/ses-02/eeg/sub-01_ses-02_task-rest_desc-preproc_epo.json").read_text())
    steps = {s["step"]: s for s in side["Steps"]}
    assert steps["detect_bads"]["log"]["bads"] == ["T7"]  # the sample's injected bad channel
    assert steps["ica"]["log"]["excluded"]  # the blink component
    assert "birthday" not in (epo.info["subject_info"] or {})


def test_rerun_does_nothing(sample_run, sample_root, capsys):
    """The main job run again (the same command: reports show it) computes and rewrites nothing."""
    out = sample_run
    pages = [*out.glob("sub-*.html"), out / "group" / "report.html"]
    before = {p: p.stat().st_mtime_ns for p in [*_derivative_files(out), *pages]}
    capsys.readouterr()
    assert main(["run", str(sample_root), str(out), "participant", "--progress", "off"]) == 0
    assert main(["run", str(sample_root), str(out), "group"]) == 0
    assert ", 0 steps run" in capsys.readouterr().out
    status = pd.read_csv(out / "logs/status_resting_eeg.tsv", sep="\t", dtype=str)
    assert len(status) == 9 and (status["status"] == "up to date").all()
    # the reports too: nothing they show changed (the run's timings in the logs are not shown)
    assert len(pages) == 4 and {p: p.stat().st_mtime_ns for p in before} == before


def test_parameter_change_reruns_only_that_step_and_what_follows(sample_root, tmp_path):
    """With every intermediate kept, a changed step restarts from the step before it."""
    out = tmp_path / "out"
    names = [s.step for s in ntp.load("resting_eeg").config.steps]
    one = {  # sub-03: EEG only (sub-01's BOLD would run rest_fmri too)
        "participant_label": ["03"],
        "session_label": ["01"],
        "progress": "off",
        "keep_intermediates": True,
        "reports": False,
    }
    assert ntp.load("resting_eeg").run(sample_root, out, **one).executed == len(names)
    edited = _edit(tmp_path, 'reject_eeg = "auto"', "reject_eeg = 400.0")
    rec = ntp.load(edited).run(sample_root, out, **one).tasks[0].recordings[0]
    assert rec["executed"] == ["epochs", "features"] and rec["cached"] == names[:-2]
    edited = _edit(tmp_path, "h_freq = 45.0", "h_freq = 40.0")
    rec = ntp.load(edited).run(sample_root, out, **one).tasks[0].recordings[0]
    assert rec["cached"] == names[:2] and rec["executed"] == names[2:]
    # back to the shipped definition: the cache has nothing for these keys any more (pruned), so
    # the changed steps run again, and the result is what the first run wrote
    rec = ntp.load("resting_eeg").run(sample_root, out, **one).tasks[0].recordings[0]
    assert rec["executed"] == names[2:]


def test_the_default_cache_keeps_what_resuming_needs(sample_run, sample_root, tmp_path):
    """Only the last step's data and the outputs' (shared with the derivatives) stay; an output is a
    resume point, an intermediate is not; ``neurotwin clean`` drops the cache and the outputs stay."""
    from neurotwin.cli import main
    from neurotwin.pipeline._workdir import folder_bytes

    out = sample_run
    work = out / ".neurotwin" / "work"
    names = [s.step for s in ntp.load("resting_eeg").config.steps]
    data = [f for f in work.rglob("data*") if f.is_file()]
    own = [f for f in data if f.stat().st_nlink == 1]  # not shared with an output
    assert {f.parent.name.split("-")[1] for f in own} == {"features"}, own
    assert {f.parent.name.split("-")[1] for f in data} == {"epochs", "features"}
    inputs = sum(f.stat().st_size for f in sample_root.glob("sub-*/**/*_eeg.edf"))
    shared = sum(f.stat().st_size for f in data if f.stat().st_nlink > 1)  # the derivatives' blocks
    assert folder_bytes(work) - shared <= 2 * inputs
    copy_keeping_links(out, tmp_path / "out")  # the module's run stays as it is
    out, work = tmp_path / "out", tmp_path / "out" / ".neurotwin" / "work"
    one = {"participant_label": ["01"], "session_label": ["01"], "progress": "off", "reports": False}
    feats = _edit(tmp_path, '"spectral_edge", "theta_beta"]', '"spectral_edge"]')
    rec = ntp.load(feats).run(sample_root, out, **one).tasks[0].recordings[0]
    assert rec["executed"] == ["features"] and rec["cached"] == names[:-1]  # from the saved epochs
    early = _edit(tmp_path, "h_freq = 45.0", "h_freq = 44.0")
    rec = ntp.load(early).run(sample_root, out, **one).tasks[0].recordings[0]
    # the steps before the band-pass changed nothing (the sample is 128 Hz and not cropped): their
    # result is the input itself; the other steps' data were not kept, so they all run again
    assert rec["cached"] == names[:2] and rec["executed"] == names[2:]
    assert main(["clean", str(out)]) == 0
    assert not work.exists() and list(out.glob("sub-01/ses-01/eeg/*_epo.fif"))
    rec = ntp.load(early).run(sample_root, out, **one).tasks[0].recordings[0]
    assert rec["status"] == "up to date"  # outputs up to date: nothing to recompute
    with pytest.raises(ConfigError, match="not a neurotwin step cache"):
        ntp.clean_work(out, tmp_path)


def _damaged_study(sample_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "study"
    # (sub-01's EEG only: its MEG and BOLD would add pipelines and a joint twin, not a fault path)
    ignore = shutil.ignore_patterns("sub-03", "make_sample_data.py", "meg", "func")
    shutil.copytree(sample_root, root, ignore=ignore)
    bad = root / "sub-02/ses-01/eeg/sub-02_ses-01_task-rest_eeg.edf"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # truncated copy
    return root


def test_damaged_file_fails_only_its_subject(sample_root, tmp_path, capsys):
    root = _damaged_study(sample_root, tmp_path)
    out = tmp_path / "out"
    code = main(["run", str(root), str(out), "participant", "--session-label", "01", "--progress", "lines"])
    assert code == 3  # partial failure
    captured = capsys.readouterr()
    assert "sub-02_ses-01_task-rest_eeg.edf" in captured.out and "truncated" in captured.out
    status = (out / "logs/status_resting_eeg.tsv").read_text()
    assert "failed" in status and status.count("\tok\t") == 1  # sub-01's recording went on
    assert len(list(out.glob("sub-*/**/eeg/*_epo.fif"))) == 1
    assert main(["run", str(root), str(out), "group"]) == 0
    summary = (out / "group/resting_eeg_desc-preproc_summary.tsv").read_text()
    assert "truncated" in summary and summary.count("\tok\t") == 1


def test_misspelled_key_stops_before_any_work(sample_root, tmp_path, capsys):
    bad = _edit(tmp_path, 'reject_eeg = "auto"', 'rejct_eeg = "auto"')
    out = tmp_path / "out"
    code = main(["run", str(sample_root), str(out), "participant", "--pipeline", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}:" in err and "'rejct_eeg'" in err and "Did you mean 'reject_eeg'" in err
    assert not out.exists()


def test_unknown_participant_is_a_usage_error(sample_root, tmp_path, capsys):
    argv = ["run", str(sample_root), str(tmp_path / "o"), "participant", "--participant-label", "7"]
    assert main(argv) == 2
    assert "not in" in capsys.readouterr().err


def test_interrupted_run_leaves_no_half_outputs_and_resumes(sample_root, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_save, calls = _artifacts.save_data, []

    def interrupt_on_fifth(data, path):
        calls.append(path)
        if len(calls) == 5:
            real_save(data, path)  # a file half-way through being written...
            raise KeyboardInterrupt  # ...when Ctrl-C arrives
        return real_save(data, path)

    monkeypatch.setattr(_artifacts, "save_data", interrupt_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        ntp.load("resting_eeg").run(
            sample_root, out, participant_label=["03"], session_label=["01"], progress="off", reports=False
        )  # sub-03: EEG only
    monkeypatch.undo()
    assert not list(out.rglob(".tmp-*")) and not _derivative_files(out)
    res = ntp.load("resting_eeg").run(
        sample_root, out, participant_label=["03"], session_label=["01"], progress="off", reports=False
    )
    rec = res.tasks[0].recordings[0]
    assert rec["status"] == "ok" and rec["cached"] and rec["executed"]  # resumed, not restarted
    assert len(rec["cached"]) + len(rec["executed"]) == N_STEPS


def _same_as_serial(other: Path, serial: Path) -> None:
    """The recordings another backend wrote (two sessions) are byte-identical to the serial run's."""
    got, want = _hashes(other), _hashes(serial)
    assert len(got) == 4 and got == {k: want[k] for k in got}


#: the backends' runs: two of sub-03's sessions (two EEG recordings for two workers), no reports
_TWO = {"participant_label": ["03"], "session_label": ["01", "02"], "progress": "off", "reports": False}


def test_process_pool_gives_the_serial_results(sample_run, sample_root, tmp_path):
    out = sample_run
    pool_out = tmp_path / "pool"
    res = ntp.load("resting_eeg").run(sample_root, pool_out, jobs=2, **_TWO)
    assert res.exit_code == 0
    _same_as_serial(pool_out, out)


@pytest.mark.slow
def test_dask_cluster_gives_the_serial_results(sample_run, sample_root, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = sample_run
    import dask

    from neurotwin.pipeline._backends import worker_environ

    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
    ):
        res = ntp.load("resting_eeg").run(
            sample_root,
            tmp_path / "dask",
            scheduler=cluster.scheduler_address,
            **{**_TWO, "participant_label": ["sub-03"]},
        )
    assert res.exit_code == 0
    _same_as_serial(tmp_path / "dask", out)


@pytest.mark.slow
def test_cli_starts_a_local_dask_cluster(sample_run, sample_root, tmp_path):
    pytest.importorskip("distributed")
    out = sample_run
    argv = [
        "run",
        str(sample_root),
        str(tmp_path / "d"),
        "participant",
        "--participant-label",
        "03",
        "--session-label",
        "01",
        "02",
        "--dask-workers",
        "2",
        "--progress",
        "off",
        "--no-reports",
    ]
    assert main(argv) == 0
    _same_as_serial(tmp_path / "d", out)


def test_cli_run_prints_summary_and_progress_lines(sample_root, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "run",
        str(sample_root),
        str(out),
        "participant",
        "--participant-label",
        "03",
        "--session-label",
        "01",
        "--progress",
        "lines",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "[1/1] sub-03 ses-01: ok" in captured.err
    assert "[1/1] report sub-03: written" in captured.err  # the reports' phase is not silent either
    assert f"1 subject/session tasks, 0 failed, {N_STEPS} steps run" in captured.out
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "0 steps run" in captured.out and "[1/1] report sub-03: up to date" in captured.err


def test_rest_fmri_pipeline_on_a_bids_bold_study(tmp_path):
    import nibabel as nib
    import numpy as np

    from neurotwin.io import read_timeseries

    from .test_mri_steps import _bold_and_labels

    root = tmp_path / "bids"
    for sub in ("01", "02"):
        (root / f"sub-{sub}/func").mkdir(parents=True)
        (root / f"sub-{sub}/anat").mkdir(parents=True)
        bold, lab_path, _ = _bold_and_labels(tmp_path, tr=0.72, n_t=300)
        nib.save(bold, root / f"sub-{sub}/func/sub-{sub}_task-rest_bold.nii.gz")
        if sub == "01":  # sub-02 has no label volume
            lab_path.rename(root / "sub-01/anat/sub-01_desc-aseg_dseg.nii.gz")
    (root / "dataset_description.json").write_text('{"Name": "bold", "BIDSVersion": "1.10.0"}')
    res = ntp.load("rest_fmri").run(root, tmp_path / "out", progress="off")
    assert res.exit_code == 3
    assert "no label volume" in res.tasks[1].recordings[0]["error"]
    check_bids_derivatives(tmp_path / "out")
    ts = read_timeseries(tmp_path / "out/sub-01/func/sub-01_task-rest_desc-clean_timeseries.tsv")
    assert ts.labels == ["Left-Hippocampus", "Right-Hippocampus"] and ts.tr == 0.72
    assert (np.abs(ts.data.mean(axis=0)) < 0.5).all()  # the raw signal sat at 100: detrended, filtered


def test_plain_folder_with_a_pattern(shared_data, tmp_path):
    folder = tmp_path / "eegmat"
    folder.mkdir()
    for name in ("Subject00_1.edf", "Subject00_2.edf"):
        (folder / name).symlink_to(shared_data / "physionet-eegmat" / name)
    out = tmp_path / "out"
    no_twin = tmp_path / "no_twin.toml"  # the mapping is what is tested here, not the twin
    no_twin.write_text((BUILTIN_DIR / "resting_eeg.toml").read_text().split("[twin]")[0])
    argv = [
        "run",
        str(folder),
        str(out),
        "participant",
        "--pattern",
        r"Subject(?P<subject>\d+)_(?P<session>\d)\.edf",
        "--progress",
        "off",
        "--pipeline",
        str(no_twin),
        "--no-reports",
    ]
    assert main(argv) == 0
    assert {p.name for p in out.glob("sub-00/ses-*/eeg/*_features.tsv")} == {
        "sub-00_ses-1_desc-preproc_features.tsv",
        "sub-00_ses-2_desc-preproc_features.tsv",
    }


def test_labels_that_collide_in_bids_names_are_refused(shared_data, tmp_path, capsys):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a_1.edf").symlink_to(shared_data / "physionet-eegmat/Subject00_1.edf")
    (folder / "a1.edf").symlink_to(shared_data / "physionet-eegmat/Subject00_2.edf")
    assert main(["run", str(folder), str(tmp_path / "out"), "participant"]) == 2
    assert "both become 'a1'" in capsys.readouterr().err


@pytest.mark.slow
def test_twins_of_the_sample_study_flag_only_the_slowing_subject(sample_root, sample_derivatives, capsys):
    """The participant run fits every subject's twin; only sub-02's alpha slowing is flagged."""
    from neurotwin.cli import main as cli_main
    from neurotwin.twin import TwinStore

    tmp_path = sample_derivatives  # the README's main job, run once for the session
    twins = pd.read_csv(
        tmp_path / "logs" / "twins_resting_eeg.tsv", sep="\t", dtype=str, keep_default_na=False
    ).set_index("subject")
    assert (twins["status"] == "ok").all() and (twins["sessions"] == "01,02,03").all()
    # the slowing (-0.5 Hz at session 2, -1.0 Hz at session 3) moves f and the spectral features it
    # shapes; no other twin parameter is flagged
    # one item a session and measure: "ses-03 f, iaf (19 channels + mean), spectral_edge (O1, O2)"
    alerts = {
        ses: [m.split(" (")[0] for m in re.split(r", (?![^(]*\))", rest)]
        for ses, rest in (a.split(" ", 1) for a in twins.loc["02", "alerts"].split("; "))
    }
    assert "f" in alerts["ses-03"]
    assert set(alerts) <= {"ses-02", "ses-03"}
    assert not {m for ms in alerts.values() for m in ms} & {"a", "G"}
    assert len(twins.loc["02", "alerts"]) < 300  # a line, not a list of every channel
    assert twins.loc["01", "alerts"] == "" and twins.loc["03", "alerts"] == ""
    store = TwinStore(tmp_path / "twins" / "twins.sqlite")
    f = store.load("02").trajectory("f")["value"].to_numpy()
    truth = [SAMPLE_TRUTH[("02", s)]["alpha_freq"] for s in ("01", "02", "03")]
    np.testing.assert_allclose(f, truth, atol=0.3)
    assert list(twins.index) == ["01", "02", "03"]

    # a rerun adds nothing and changes no state
    def states():
        import sqlite3

        with sqlite3.connect(tmp_path / "twins" / "twins.sqlite") as con:
            query = "SELECT twin_id, idx, meta, arrays FROM states ORDER BY twin_id, idx"
            return con.execute(query).fetchall()

    before = states()
    again = ntp.load("resting_eeg").run(sample_root, tmp_path, progress="off", reports=False)
    assert again.executed == 0 and (again.twins["added"] == 0).all() and again.exit_code == 0
    assert states() == before and len(before) == 9
    capsys.readouterr()
    assert cli_main(["twin", "show", str(tmp_path), "02"]) == 0
    assert "head: region centres, in a template head (not the subject's own)" in capsys.readouterr().out
    assert cli_main(["twin", "simulate", str(tmp_path), "02", "--coupling-scale", "0.5"]) == 0
    assert cli_main(["twin", "show", str(tmp_path), "99"]) == 2


def test_a_script_without_a_main_guard_is_told_what_to_do(sample_root, tmp_path):
    """Spawned workers re-import a script; without ``if __name__ == "__main__":`` they die, and the
    failure says why instead of a bare BrokenProcessPool."""
    import subprocess
    import sys

    script = tmp_path / "no_guard.py"
    script.write_text(
        "import neurotwin.pipeline as ntp\n"
        f"r = ntp.load('resting_eeg').run({str(sample_root)!r}, {str(tmp_path / 'out')!r}, "
        "participant_label=['02'], session_label=['01'], jobs=2, progress='off', reports=False)\n"
        "print('ERROR', r.summary()['error'].iloc[0])\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    line = next(x for x in out.stdout.splitlines() if x.startswith("ERROR"))
    assert "BrokenProcessPool" in line and 'if __name__ == "__main__":' in line and "no_guard.py" in line
