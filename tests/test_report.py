"""Reports: content, byte-identical rebuilds, privacy, a failing subject, rendering in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import neurotwin.pipeline as ntp
from neurotwin.report import study_report, subject_report

from .conftest import chromium

SECTIONS = ["Overview", "Session 01", "Twin", "Longitudinal view", "Provenance and methods"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def _browser(html: Path, tmp_path: Path) -> tuple[str, np.ndarray, str]:
    """(DOM, screenshot pixels, browser log) of a page opened in headless Chromium."""
    exe = chromium()
    if exe is None:
        pytest.skip("chromium is not installed")
    profile = tmp_path / f"profile-{html.stem}"
    base = [exe, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*base, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120)
    shot = tmp_path / f"{html.stem}.png"
    run = subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1280,2400", html.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    import matplotlib.image

    return dom.stdout, matplotlib.image.imread(shot), dom.stderr + run.stderr


def test_patient_reports_show_the_sessions_the_twin_and_only_sub02s_change(sample_derivatives):
    out = sample_derivatives
    for sub in ("01", "02", "03"):
        html = (out / f"sub-{sub}.html").read_text()
        for heading in SECTIONS:
            assert f">{heading}" in html, heading
        # three EEG sessions each; sub-01's three MEG and two BOLD recordings and two label volumes are
        # sessions of their own
        assert html.count('id="ses-') == (10 if sub == "01" else 3)
        assert html.count("data:image/svg+xml;base64,") >= 8
        assert "<script" not in html  # nothing to run, nothing to fail
    alerts = {
        sub: re.findall(
            r'badge alert">ses-(\d+): ([\w ]+?)(?: at \w+)? changed', (out / f"sub-{sub}.html").read_text()
        )
        for sub in ("01", "02", "03")
    }
    # sub-02's alpha slows by 0.5 Hz at session 2 and 1.0 Hz at session 3: f (and the IAF) flagged there only,
    # by their human names (the slowing also lowers the spectral edge of some channels)
    assert alerts["01"] == [] and alerts["03"] == [] and ("03", "alpha frequency") in alerts["02"]
    assert {ses for ses, _ in alerts["02"]} <= {"02", "03"}
    assert {n for _, n in alerts["02"]} <= {
        "alpha frequency",
        "individual alpha frequency",
        "spectral edge frequency",
    }
    study = (out / "group" / "report.html").read_text()
    assert study.count('class="ok">ok<') >= 9 and "sub-02.html" in study and "ses-03 f" in study
    assert "Against the participants' age and sex" in study  # the sample's participants.tsv has both


def test_patient_pages_have_the_qc_a_clinician_expects(sample_derivatives):
    import json

    out = sample_derivatives
    for sub in ("01", "02", "03"):
        page = out / f"sub-{sub}.html"
        html = page.read_text()
        n_rec = 6 if sub == "01" else 3  # EEG (and sub-01's MEG) recordings: each with its QC
        assert page.stat().st_size <= 2e6 * n_rec / 3  # 2 MB for three sessions, every figure inline
        assert html.count("<details><summary>Quality control") == n_rec
        for alt in (
            "raw trace excerpt, bad channels in red",
            "every channel's PSD up to Nyquist",
            "drop log",
        ):
            assert html.count(f'alt="{alt}"') == n_rec, alt
        sidecars = sorted((out / f"sub-{sub}").rglob("*_epo.json"))
        logs = [{st["step"]: st["log"] for st in json.loads(p.read_text())["Steps"]} for p in sidecars]
        removed = sum(bool(g["ica"].get("excluded")) for g in logs)
        assert html.count('alt="removed ICA components"') == removed
        for g in logs:  # each session's step list says what its logs say (MEG: no bad-channel step)
            if "detect_bads" in g:
                assert f"bad channels: {', '.join(g['detect_bads']['bads']) or 'none'}" in html
            assert f"notch at {', '.join(f'{f:g}' for f in g['notch']['freqs'])} Hz" in html
        # features by their human names, not code identifiers
        assert "individual alpha frequency (Hz)" in html and "<td>aperiodic exponent</td>" in html
        assert ">iaf (Hz)" not in html and ">aperiodic_exponent (1)" not in html
        assert "epochs: epochs:" not in html and "notch at None" not in html


def test_reports_are_byte_identical_when_rebuilt_and_hold_no_dates(sample_derivatives, monkeypatch):
    out = sample_derivatives
    cfg = ntp.load("resting_eeg").config
    before = {p.name: p.read_bytes() for p in [out / "sub-02.html", out / "group" / "report.html"]}
    command = re.search(r"<pre>(neurotwin run [^<]*participant[^<]*)</pre>", before["sub-02.html"].decode())
    (out / "sub-02.html").unlink()  # (an existing page built from the same inputs is not rebuilt)
    subject_report(out, "02", cfg, command=command.group(1))
    study_cmd = re.search(r"<pre>(neurotwin run [^<]*group[^<]*)</pre>", before["report.html"].decode())
    study_report(out, cfg, command=study_cmd.group(1))
    assert (out / "sub-02.html").read_bytes() == before["sub-02.html"]
    assert (out / "group" / "report.html").read_bytes() == before["report.html"]
    text = before["sub-02.html"].decode()
    assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d", text)  # no recording or birth dates
    assert "birthday" not in text and "meas_date" not in text
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    subject_report(out, "02", cfg, command=command.group(1))
    assert "Built 2023-11-14 22:13 UTC (SOURCE_DATE_EPOCH)" in (out / "sub-02.html").read_text()
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    subject_report(out, "02", cfg, command=command.group(1))
    assert (out / "sub-02.html").read_bytes() == before["sub-02.html"]


def test_a_report_is_rebuilt_only_when_what_it_shows_changed(sample_derivatives, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(sample_derivatives, out, symlinks=True)
    cfg = ntp.load("resting_eeg").config
    page = out / "sub-02.html"
    first = subject_report(out, "02", cfg, command="c")  # another command: rebuilt
    built = page.stat().st_mtime_ns
    assert subject_report(out, "02", cfg, command="c") == first and page.stat().st_mtime_ns == built
    side = next(out.glob("sub-02/ses-02/eeg/*_desc-preproc_epo.json"))
    side.write_text(side.read_text().replace('"Description"', '"Description" ', 1))  # an input changed
    subject_report(out, "02", cfg, command="c")
    assert page.stat().st_mtime_ns != built
    built = page.stat().st_mtime_ns
    import sqlite3

    from neurotwin.twin import TwinStore

    store = out / "twins" / "twins.sqlite"
    tid = TwinStore(store, create=False).twin_id("02")
    with sqlite3.connect(store) as con:  # the twin's record changed (a state's meta)
        con.execute("UPDATE states SET meta = meta || ' ' WHERE twin_id = ? AND idx = 0", (tid,))
    subject_report(out, "02", cfg, command="c")
    assert page.stat().st_mtime_ns != built


@pytest.mark.slow
def test_reports_render_in_chromium(sample_derivatives, tmp_path):
    study_headings = ["Recordings", "Group distributions", "Twins", "Provenance and methods"]
    for page, headings, n_img in (
        (sample_derivatives / "sub-02.html", SECTIONS, 8),
        (sample_derivatives / "group" / "report.html", study_headings, 1),
    ):
        dom, pixels, log = _browser(page, tmp_path)
        h2 = re.findall(r"<h2[^>]*>([^<]+)", dom)
        for heading in headings:
            assert any(h.strip().startswith(heading) for h in h2), (heading, h2)
        assert dom.count("<img") >= n_img
        rgb = pixels[..., :3]
        assert rgb.std() > 0.05 and (rgb.mean(axis=2) < 0.5).mean() > 0.01  # drawn, not blank
        assert not re.search(r"CONSOLE.*(error|Uncaught)|Uncaught", log, re.I), log[-2000:]


def test_a_failing_subject_is_listed_and_the_others_get_reports(sample_root, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(sample_root, study)
    for edf in [*(study / "sub-03").rglob("*_eeg.edf"), *(study / "sub-01").rglob("*ses-03*_eeg.edf")]:
        edf.write_bytes(edf.read_bytes()[:3000])  # truncated: refused as damaged
    from neurotwin.pipeline.config import BUILTIN_DIR

    lines = (BUILTIN_DIR / "resting_eeg.toml").read_text().split("[twin]")[0]
    pipe = tmp_path / "no_twin.toml"
    pipe.write_text(lines.replace('name = "resting_eeg"', 'name = "no_twin"'))
    out = tmp_path / "out"
    from neurotwin.cli import main

    assert (
        main(
            [
                "run",
                str(study),
                str(out),
                "participant",
                "--pipeline",
                str(pipe),
                "--progress",
                "off",
                "--participant-label",
                "01",
                "03",
            ]
        )
        == 3
    )
    assert main(["run", str(study), str(out), "group", "--pipeline", str(pipe)]) == 0
    assert (out / "sub-01.html").is_file() and not (out / "sub-03.html").is_file()
    report = (out / "group" / "report.html").read_text()
    rows = re.findall(r"<tr><td>03</td>.*?</tr>", report)
    assert len(rows) == 3, rows
    assert all('class="failed">failed' in r and "truncated" in r.lower() for r in rows), rows
    # the patient's page lists the recording that failed, with the reason, and its methods count it
    page = (out / "sub-01.html").read_text()
    row = re.search(r"<tr><td>03</td>.*?</tr>", page).group(0)
    assert "failed" in row and "truncated" in row.lower() and "sub-01_ses-03_task-rest_eeg.edf" in row
    assert "2 recordings were processed; 1 failed" in page


def _step(step, params=None, **log):
    return {"step": step, "params": params or {}, "log": log}


def test_the_methods_say_what_the_steps_did_not_what_they_were_set_to():
    from neurotwin.report._methods import methods

    untouched = [
        _step("crop", {"tmin": 0.0, "tmax": None}, unchanged=True),
        _step("resample", {"sfreq": 250.0, "method": "polyphase"}, unchanged=True, sfreq=128.0),
        _step("notch", {"line_freq": "auto", "n_harmonics": 3}, line_freq=None, unchanged=True),
        _step(
            "epochs",
            {"length": 2.0, "reject_eeg": "auto"},
            length=2.0,
            n_kept=28,
            n_total=31,
            n_bad_amplitude=3,
            n_bad_annotation=0,
        ),
    ]
    text, _ = methods([untouched, untouched], bids=False)
    assert "cropped" not in text and "0--" not in text and "resampled to" not in text
    assert "No recording was resampled" in text and "not notch-filtered" in text
    assert "Mains interference" not in text and "MNE-BIDS" not in text
    assert "56 of 62 epochs were kept (6 exceeded" in text
    done = [
        _step("resample", {"sfreq": 250.0, "method": "polyphase"}, sfreq_from=500.0, sfreq=250.0),
        _step("notch", {"line_freq": "auto"}, line_freq=50.0, freqs=[50.0, 100.0]),
    ]
    text, refs = methods(
        [done, untouched],
        twin={"modality": "eeg", "connectome": "tvb76", "head": "tvb cortex (16384 vertices)"},
    )
    assert "1 of 2 recordings was resampled from 500 Hz to 250 Hz" in text
    assert (
        "Mains interference at 50 Hz and its harmonics (100 Hz) was removed with notch filters in 1 of 2"
        in text
    )
    assert "template connectome (not the patient's own)" in text and "template cortex" in text
    assert "reliable-change" not in text and any("Benjamini" in r for _, r in refs)
    assert "both recordings" in methods([untouched, untouched], bids=False)[0]
    single = methods([done], twin={"modality": "eeg", "connectome": "tvb76", "n_states": 1})[0]
    assert "compared" not in single.replace("nothing is compared", "") and "one session so far" in single
    own = methods([done], twin={"modality": "eeg", "connectome": "subject", "head": "region centres"})[0]
    assert "patient's own structural connectome" in own and "region centres" in own


def test_real_recordings_report_renders(eeg_run_real, tmp_path):
    out = eeg_run_real
    pages = sorted(out.glob("sub-*.html"))
    assert len(pages) >= 4
    page = out / "sub-eegmat00.html"
    html = page.read_text()
    for heading in ("Overview", "Twin", "Longitudinal view", "Provenance and methods"):
        assert f">{heading}" in html
    dom, pixels, log = _browser(page, tmp_path)
    assert "Provenance and methods" in dom and pixels[..., :3].std() > 0.05


def test_qc_figures_of_any_channel_order_and_of_meg(sample_root, shared_data):
    """Picks are the spectrum's own (an EOG channel first, or MEG + EEG, once sent the wrong indices)."""
    import mne

    from neurotwin.io import read_raw
    from neurotwin.report._qc import MAX_TRACES, raw_qc

    raw = read_raw(next(sample_root.glob("sub-01/ses-01/eeg/*_eeg.edf"))).load_data()
    raw.reorder_channels([raw.ch_names[-1], *raw.ch_names[:-1]])  # the EOG channel first
    assert set(raw_qc(raw, ["T7"], [50.0])) == {"traces", "psd"}
    meg = mne.io.read_raw_fif(
        shared_data / "mne-testing-data/SSS/sample_audvis_trunc_raw_sss.fif", verbose="error"
    ).load_data(verbose="error")
    assert len(meg.ch_names) > MAX_TRACES
    figs = raw_qc(meg, [meg.ch_names[5]], [60.0])
    assert figs["traces"].startswith("data:image/png;base64,") and figs["psd"]
